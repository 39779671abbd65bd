-- Formats asserted in the database as in the application (issue 12; Formats.cs and Idna.cs are the other half).
-- Shipped by migration 202612051000; @s@ is the quoted schema. The regular expressions and the IDNA tables come
-- from the generated formats.sql; what follows is what a regular expression cannot say.
--
-- Punycode (RFC 3492 §6.2): the code points an A-label's encoded part (after "xn--") stands for, or null.
create function @s@._jsv_punycode(input text) returns int[]
language plpgsql immutable strict parallel safe as $fn$
declare
    output int[] := '{}';
    len int := length(input);
    dash int := case when strpos(reverse(input), '-') = 0 then 0 else length(input) - strpos(reverse(input), '-') + 1 end;
    n bigint := 128;
    i bigint := 0;
    bias bigint := 72;
    oldi bigint;
    w bigint;
    k bigint;
    t bigint;
    digit bigint;
    delta bigint;
    shift bigint;
    cnt int;
    c int;
    pos int;
begin
    for j in 1 .. dash - 1 loop
        c := ascii(substr(input, j, 1));
        if c >= 128 then return null; end if;
        output := output || c;
    end loop;
    pos := case when dash > 1 then dash + 1 else 1 end;
    while pos <= len loop
        oldi := i;
        w := 1;
        k := 36;
        loop
            if pos > len then return null; end if;
            c := ascii(substr(input, pos, 1));
            pos := pos + 1;
            digit := case when c between 97 and 122 then c - 97 when c between 65 and 90 then c - 65
                          when c between 48 and 57 then c - 22 else -1 end;
            if digit < 0 or digit > (2147483647 - i) / w then return null; end if;
            i := i + digit * w;
            t := case when k <= bias then 1 when k >= bias + 26 then 26 else k - bias end;
            exit when digit < t;
            if w > 2147483647 / (36 - t) then return null; end if;
            w := w * (36 - t);
            k := k + 36;
        end loop;
        cnt := coalesce(array_length(output, 1), 0) + 1;
        delta := case when oldi = 0 then (i - oldi) / 700 else (i - oldi) / 2 end;
        delta := delta + delta / cnt;
        shift := 0;
        while delta > 455 loop
            delta := delta / 35;
            shift := shift + 36;
        end loop;
        bias := shift + (36 * delta) / (delta + 38);
        if i / cnt > 2147483647 - n then return null; end if;
        n := n + i / cnt;
        i := i % cnt;
        if n > 1114111 or n between 55296 and 57343 then return null; end if;
        output := output[1:i] || n::int || output[i + 1:];
        i := i + 1;
    end loop;
    return output;
end
$fn$
---
-- A decoded label against IDNA2008 (RFC 5891 §5.4, RFC 5892 §2 with its exceptions and appendix A's context
-- rules); PVALID approximated as in Idna.cs: a lower-case, modifier or other letter, a mark or a decimal digit
-- that NFKC leaves as it is, or the hyphen.
create function @s@._jsv_idna_label(label int[]) returns boolean
language plpgsql immutable strict parallel safe as $fn$
declare
    n int := coalesce(array_length(label, 1), 0);
    c int;
    b int;
    a int;
    pvalid int4multirange := @s@._jsv_uprop('Ll') + @s@._jsv_uprop('Lo') + @s@._jsv_uprop('Lm') + @s@._jsv_uprop('Mn') + @s@._jsv_uprop('Mc') + @s@._jsv_uprop('Nd');
begin
    if n = 0 or not exists (select 1 from unnest(label) x where x >= 128) or label[1] = 45 or label[n] = 45
       or (n >= 4 and label[3] = 45 and label[4] = 45) then
        return false;
    end if;
    if not (array_to_string(array(select chr(x) from unnest(label) with ordinality u(x, o) order by o), '') is nfc normalized)
       or @s@._jsv_uprop('M') @> label[1] then
        return false;
    end if;
    for j in 1 .. n loop
        c := label[j];
        if c in (223, 962, 1789, 1790, 3851, 12295, 45) then
            continue;
        elsif c in (1600, 2042, 12334, 12335, 12347) or c between 12337 and 12341 then
            return false;
        elsif c = 183 then -- MIDDLE DOT: between two 'l'
            if not (j > 1 and j < n and label[j - 1] = 108 and label[j + 1] = 108) then return false; end if;
        elsif c = 885 then -- GREEK KERAIA: followed by Greek
            if not (j < n and @s@._jsv_idna_table('greek') @> label[j + 1]) then return false; end if;
        elsif c in (1523, 1524) then -- HEBREW GERESH, GERSHAYIM: preceded by Hebrew
            if not (j > 1 and @s@._jsv_idna_table('hebrew') @> label[j - 1]) then return false; end if;
        elsif c = 12539 then -- KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the label
            if not exists (select 1 from unnest(label) x
                           where (@s@._jsv_idna_table('hiragana') + @s@._jsv_idna_table('katakana') + @s@._jsv_idna_table('han')) @> x) then
                return false;
            end if;
        elsif c between 1632 and 1641 then -- ARABIC-INDIC DIGITS: not mixed with the extended ones
            if exists (select 1 from unnest(label) x where x between 1776 and 1785) then return false; end if;
        elsif c between 1776 and 1785 then
            if exists (select 1 from unnest(label) x where x between 1632 and 1641) then return false; end if;
        elsif c = 8205 then -- ZERO WIDTH JOINER: after a virama
            if not (j > 1 and @s@._jsv_idna_table('virama') @> label[j - 1]) then return false; end if;
        elsif c = 8204 then -- ZERO WIDTH NON-JOINER: after a virama, or between joining letters
            if not (j > 1 and @s@._jsv_idna_table('virama') @> label[j - 1]) then
                b := j - 1;
                while b >= 1 and @s@._jsv_idna_table('joining_t') @> label[b] loop b := b - 1; end loop;
                a := j + 1;
                while a <= n and @s@._jsv_idna_table('joining_t') @> label[a] loop a := a + 1; end loop;
                if not (b >= 1 and (@s@._jsv_idna_table('joining_l') + @s@._jsv_idna_table('joining_d')) @> label[b]
                        and a <= n and (@s@._jsv_idna_table('joining_r') + @s@._jsv_idna_table('joining_d')) @> label[a]) then
                    return false;
                end if;
            end if;
        elsif not (pvalid @> c and normalize(chr(c), nfkc) = chr(c)) then
            return false;
        end if;
    end loop;
    return true;
end
$fn$
---
-- A host name that matched the expression: at most 253 characters, and every A-label valid.
create function @s@._jsv_hostname_ok(v text) returns boolean
language sql immutable strict parallel safe as $fn$
    select length(v) <= 253 and not exists (
        select 1 from unnest(string_to_array(v, '.')) l
        where length(l) > 4 and lower(left(l, 4)) = 'xn--'
          and not coalesce(@s@._jsv_idna_label(@s@._jsv_punycode(substr(l, 5))), false))
$fn$
---
-- A time of day with second 60 (already matched, "HH:MM:60..."): valid only at 23:59 UTC (RFC 3339 §5.6).
create function @s@._jsv_leap_ok(t text) returns boolean
language sql immutable strict parallel safe as $fn$
    select ((substr(t, 1, 2)::int * 60 + substr(t, 4, 2)::int
             - coalesce(case when m[1] = '+' then 1 else -1 end * (m[2]::int * 60 + m[3]::int), 0)) % 1440 + 1440) % 1440 = 1439
    from (select regexp_match(substr(t, 9), '([+-])([0-9]{2}):([0-9]{2})$') as m) as offset_parts
$fn$
---
-- Whether v is a valid value of format name; true for a format that is not asserted (an annotation).
create function @s@._jsv_format(name text, v text) returns boolean
language plpgsql immutable strict parallel safe as $fn$
begin
    return case name
        when 'time' then v ~ @s@._jsv_format_re('time') or (v ~ @s@._jsv_format_re('time-leap') and @s@._jsv_leap_ok(v))
        when 'date-time' then v ~ @s@._jsv_format_re('date-time')
            or (v ~ @s@._jsv_format_re('date-time-leap') and @s@._jsv_leap_ok(substr(v, 12)))
        when 'hostname' then v ~ @s@._jsv_format_re('hostname') and @s@._jsv_hostname_ok(v)
        when 'email' then v ~ @s@._jsv_format_re('email')
            and (right(v, strpos(reverse(v), '@') - 1) like '[%' or @s@._jsv_hostname_ok(right(v, strpos(reverse(v), '@') - 1)))
        when 'date' then v ~ @s@._jsv_format_re(name)
        when 'duration' then v ~ @s@._jsv_format_re(name)
        when 'ipv4' then v ~ @s@._jsv_format_re(name)
        when 'ipv6' then v ~ @s@._jsv_format_re(name)
        when 'json-pointer' then v ~ @s@._jsv_format_re(name)
        when 'uri' then v ~ @s@._jsv_format_re(name)
        when 'uri-reference' then v ~ @s@._jsv_format_re(name)
        when 'uuid' then v ~ @s@._jsv_format_re(name)
        else true
    end;
end
$fn$
---
-- The compiled (jsonpath) check of an asserted format at cur, or null when it cannot be compiled there. What a
-- regular expression cannot decide (a leap second with an offset, an A-label, a very long e-mail domain) makes
-- the predicate unknown, and the interpreter decides; an unknown is only sound at a static location (fixed),
-- never inside a filter, where it would count as false.
create function @s@._jsv_format_path(name text, cur text, fixed boolean) returns text
language sql immutable strict parallel safe as $fn$
    select case
        when name in ('date', 'duration', 'ipv4', 'ipv6', 'json-pointer', 'uri', 'uri-reference', 'uuid') then
            format('%s like_regex %s flag "s"', cur, @s@._jsv_q(@s@._jsv_format_re(name)))
        when not fixed then null
        when name in ('time', 'date-time') then
            format('(%1$s like_regex %2$s flag "s" || %1$s like_regex %3$s flag "s" || (%1$s like_regex %4$s flag "s" && 1 == "u"))',
                   cur, @s@._jsv_q(@s@._jsv_format_re(name)), @s@._jsv_q(@s@._jsv_format_re(name || '-leap-utc')), @s@._jsv_q(@s@._jsv_format_re(name || '-leap')))
        when name = 'hostname' then
            format('(%1$s like_regex %2$s flag "s" && %1$s like_regex "^.{1,253}$" flag "s" && (!(%1$s like_regex %3$s flag "s") || 1 == "u"))',
                   cur, @s@._jsv_q(@s@._jsv_format_re(name)), @s@._jsv_q(@s@._jsv_format_re('xn-label')))
        when name = 'email' then
            format('(%1$s like_regex %2$s flag "s" && ((!(%1$s like_regex %3$s flag "s") && !(%1$s like_regex "@[^@]{254,}$" flag "s")) || 1 == "u"))',
                   cur, @s@._jsv_q(@s@._jsv_format_re(name)), @s@._jsv_q(@s@._jsv_format_re('xn-label')))
    end
$fn$
