-- ECMA-262 patterns (u flag) for PostgreSQL: the same translation as EcmaPattern.Translate(pattern, Target.Are)
-- in the library (a test compares the two over a corpus). Every class becomes an explicit set of code-point ranges
-- (int4multirange), never a locale-dependent class; \d \w \s \b are ASCII/ECMA sets; . excludes line terminators.
-- Shipped by migration 202612041000 together with unicode.sql (the property tables). @s@ is the quoted schema.
create function @s@._jsv_re_char(c int) returns text
language sql immutable strict parallel safe as $fn$
    select case when c <= 65535 then '\u' || lpad(upper(to_hex(c)), 4, '0') else '\U' || lpad(upper(to_hex(c)), 8, '0') end
$fn$
---
-- A set as an ARE bracket expression, without U+0000 and the surrogates (no text holds them).
create function @s@._jsv_re_set(m int4multirange) returns text
language sql immutable strict parallel safe as $fn$
    select coalesce(
        (select '[' || string_agg(@s@._jsv_re_char(lower(r)) || case when upper(r) - 1 > lower(r) then '-' || @s@._jsv_re_char(upper(r) - 1) else '' end, '' order by lower(r)) || ']'
         from unnest(m * '{[1,55296),[57344,1114112)}'::int4multirange) r),
        '[^\u0001-\U0010FFFF]')
$fn$
---
create function @s@._jsv_re_literal(c int) returns text
language sql immutable strict parallel safe as $fn$
    select case
        when c between 48 and 57 or c between 65 and 90 or c between 97 and 122 or c = 32 then chr(c)
        when c = 0 then '[^\u0001-\U0010FFFF]'
        else @s@._jsv_re_char(c)
    end
$fn$
---
create function @s@._jsv_re_fail(i int, message text) returns text
language plpgsql immutable strict parallel safe as $fn$
begin
    raise exception 'invalid pattern at position %: %', i, message using errcode = 'invalid_regular_expression';
end
$fn$
---
create function @s@._jsv_re_hex(p int[], i int, digits int) returns int
language plpgsql immutable strict parallel safe as $fn$
declare
    t text := '';
    k int;
begin
    if i + digits - 1 > cardinality(p) then perform @s@._jsv_re_fail(i - 1, 'invalid escape'); end if;
    for k in i .. i + digits - 1 loop
        if not (p[k] between 48 and 57 or p[k] between 65 and 70 or p[k] between 97 and 102) then
            perform @s@._jsv_re_fail(i - 1, 'invalid escape');
        end if;
        t := t || chr(p[k]);
    end loop;
    return ('x' || lpad(t, 8, '0'))::bit(32)::int;
end
$fn$
---
-- After a backslash at p[i] (1-based): a class escape (cls) or a character (cp); nxt is the index after it.
create function @s@._jsv_re_escape(p int[], i int, in_class boolean, out cls int4multirange, out cp int, out nxt int)
language plpgsql immutable strict parallel safe as $fn$
declare
    n int := cardinality(p);
    c int := p[i];
    close int;
    name text;
    canonical text;
    digits constant int4multirange := '{[48,58)}';
    word constant int4multirange := '{[48,58),[65,91),[95,96),[97,123)}';
    spaces constant int4multirange := '{[9,14),[32,33),[160,161),[5760,5761),[8192,8203),[8232,8234),[8239,8240),[8287,8288),[12288,12289),[65279,65280)}';
    everything constant int4multirange := '{[0,1114112)}';
    low int;
begin
    nxt := i + 1;
    case c
        when 100 then cls := digits; return;                      -- \d
        when 68 then cls := everything - digits; return;          -- \D
        when 119 then cls := word; return;                        -- \w
        when 87 then cls := everything - word; return;            -- \W
        when 115 then cls := spaces; return;                      -- \s
        when 83 then cls := everything - spaces; return;          -- \S
        when 112, 80 then                                         -- \p{...} \P{...}
            if nxt > n or p[nxt] <> 123 then perform @s@._jsv_re_fail(nxt - 1, 'invalid property name'); end if;
            close := array_position(p, 125, nxt);
            if close is null then perform @s@._jsv_re_fail(nxt - 1, 'invalid property name'); end if;
            select string_agg(chr(x), '' order by o) into name from unnest(p[nxt + 1 : close - 1]) with ordinality as u(x, o);
            canonical := @s@._jsv_uprop_name(coalesce(name, ''));
            if canonical is null then
                perform @s@._jsv_re_fail(close, format('unsupported Unicode property ''%s'' (general categories, Any, ASCII and Assigned are supported)', name));
            end if;
            cls := case when c = 112 then @s@._jsv_uprop(canonical) else everything - @s@._jsv_uprop(canonical) end;
            nxt := close + 1;
            return;
        else null;
    end case;
    if c = 116 then cp := 9;                                      -- \t \n \v \f \r
    elsif c = 110 then cp := 10;
    elsif c = 118 then cp := 11;
    elsif c = 102 then cp := 12;
    elsif c = 114 then cp := 13;
    elsif c = 98 and in_class then cp := 8;                       -- [\b] is a backspace
    elsif c = 45 and in_class then cp := 45;                      -- [\-]
    elsif c = 99 and nxt <= n and (p[nxt] between 65 and 90 or p[nxt] between 97 and 122) then
        cp := p[nxt] % 32;                                        -- \cX
        nxt := nxt + 1;
    elsif c = 48 and not (nxt <= n and p[nxt] between 48 and 57) then
        cp := 0;                                                  -- \0
    elsif c = 120 then                                            -- \xHH
        cp := @s@._jsv_re_hex(p, nxt, 2);
        nxt := nxt + 2;
    elsif c = 117 then                                            -- \uHHHH, \u{H...}, surrogate pairs
        if nxt <= n and p[nxt] = 123 then
            close := array_position(p, 125, nxt);
            if close is null or close = nxt + 1 or close - nxt - 1 > 8 then perform @s@._jsv_re_fail(nxt - 1, 'invalid Unicode escape'); end if;
            cp := @s@._jsv_re_hex(p, nxt + 1, close - nxt - 1);
            if cp > 1114111 or cp < 0 then perform @s@._jsv_re_fail(nxt - 1, 'invalid Unicode escape'); end if;
            nxt := close + 1;
        else
            cp := @s@._jsv_re_hex(p, nxt, 4);
            nxt := nxt + 4;
            if cp between 55296 and 56319 and nxt + 5 <= n and p[nxt] = 92 and p[nxt + 1] = 117 and p[nxt + 2] <> 123 then
                -- no exception block here: a subtransaction cannot start in a parallel query
                low := case when (select bool_and(x between 48 and 57 or x between 65 and 70 or x between 97 and 102) from unnest(p[nxt + 2 : nxt + 5]) x)
                            then @s@._jsv_re_hex(p, nxt + 2, 4) end;
                if low between 56320 and 57343 then
                    cp := 65536 + ((cp - 55296) << 10) + (low - 56320);
                    nxt := nxt + 6;
                end if;
            end if;
        end if;
    elsif c = 47 or c = any (array[94, 36, 92, 46, 42, 43, 63, 40, 41, 91, 93, 123, 125, 124]) then
        cp := c;                                                  -- / and the syntax characters ^$\.*+?()[]{}|
    else
        perform @s@._jsv_re_fail(i - 1, format('invalid escape ''\%s''', chr(c)));
    end if;
    if in_class then
        cls := int4multirange(int4range(cp, cp + 1));
        cp := null;
    end if;
end
$fn$
---
create function @s@._jsv_re_repeat(lo int, hi int) returns text
language sql immutable parallel safe as $fn$
    select case
        when lo = 0 and hi = -1 then '*'
        when lo = 1 and hi = -1 then '+'
        when lo = 0 and hi = 1 then '?'
        when hi = -1 then format('{%s,}', lo)
        when lo = hi then format('{%s}', lo)
        else format('{%s,%s}', lo, hi)
    end
$fn$
---
-- n repetitions of grp (exact) or 0..n, as groups of at most 255 (the ARE limit).
create function @s@._jsv_re_bounded(grp text, n int, exact boolean, i int) returns text
language plpgsql immutable strict parallel safe as $fn$
declare
    q int := n / 255;
    r int := n % 255;
    t text := '';
begin
    if q > 255 then perform @s@._jsv_re_fail(i, 'repetition count too large'); end if;
    if q > 0 then
        t := t || '(?:' || grp || case when exact then '{255}' else '{0,255}' end || ')' || case when exact then format('{%s}', q) else format('{0,%s}', q) end;
    end if;
    if r > 0 then
        t := t || grp || case when exact then format('{%s}', r) else format('{0,%s}', r) end;
    end if;
    return t;
end
$fn$
---
create or replace function @s@._jsv_regex(pattern text) returns text
language plpgsql immutable strict parallel safe as $fn$
declare
    p int[];
    n int;
    i int := 1;
    k int;
    c int;
    o text := '';
    names text[] := '{}';
    name text;
    in_class boolean := false;
    stack_start int[] := '{}';       -- output position where each open group starts
    stack_quant boolean[] := '{}';   -- whether that group can be quantified
    atom_start int;
    quantifiable boolean;
    set int4multirange;
    negated boolean;
    first_set int4multirange;
    first_cp int;
    last_cp int;
    e record;
    close int;
    body text;
    lo int;
    hi int;
    number int;
    grp text;
    w constant text := '[0-9A-Z_a-z]';
    line_terminators constant int4multirange := '{[10,11),[13,14),[8232,8234)}';
begin
    select coalesce(array_agg(ascii(ch) order by o2), '{}') into p
    from regexp_split_to_table(pattern, '') with ordinality as s(ch, o2);
    n := cardinality(p);

    -- Named groups are numbered with the others: count every capturing group first.
    k := 1;
    while k <= n loop
        c := p[k];
        if c = 92 then
            k := k + 1;
        elsif in_class then
            in_class := c <> 93;
        elsif c = 91 then
            in_class := true;
        elsif c = 40 then
            if k + 2 <= n and p[k + 1] = 63 and p[k + 2] = 60 and not (k + 3 <= n and p[k + 3] in (61, 33)) then
                close := array_position(p, 62, k + 3);
                names := names || case when close is null then '' else (select coalesce(string_agg(chr(x), '' order by oo), '') from unnest(p[k + 3 : close - 1]) with ordinality as u(x, oo)) end;
            elsif not (k + 1 <= n and p[k + 1] = 63) then
                names := names || ''::text;
            end if;
        end if;
        k := k + 1;
    end loop;

    while i <= n loop
        c := p[i];
        atom_start := length(o);
        quantifiable := true;
        if c = 124 then                                           -- |
            o := o || '|';
            i := i + 1;
            continue;
        elsif c = 40 then                                         -- ( (?: (?= (?! (?<= (?<! (?<name>
            stack_start := stack_start || length(o);
            if i + 1 <= n and p[i + 1] = 63 then
                if i + 2 <= n and p[i + 2] = 58 then
                    o := o || '(?:'; stack_quant := stack_quant || true; i := i + 3;
                elsif i + 2 <= n and p[i + 2] in (61, 33) then
                    o := o || '(?' || chr(p[i + 2]); stack_quant := stack_quant || false; i := i + 3;
                elsif i + 3 <= n and p[i + 2] = 60 and p[i + 3] in (61, 33) then
                    o := o || '(?<' || chr(p[i + 3]); stack_quant := stack_quant || false; i := i + 4;
                elsif i + 2 <= n and p[i + 2] = 60 then
                    close := array_position(p, 62, i + 3);
                    if close is null or close = i + 3 then perform @s@._jsv_re_fail(i + 1, 'invalid group name'); end if;
                    for k in i + 3 .. close - 1 loop
                        if not (p[k] in (36, 95) or p[k] between 65 and 90 or p[k] between 97 and 122
                                or (k > i + 3 and p[k] between 48 and 57)
                                or (p[k] >= 128 and @s@._jsv_uprop('L') @> p[k])) then
                            perform @s@._jsv_re_fail(i + 1, 'invalid group name');
                        end if;
                    end loop;
                    select string_agg(chr(x), '' order by oo) into name from unnest(p[i + 3 : close - 1]) with ordinality as u(x, oo);
                    if (select count(*) from unnest(names) x where x = name) > 1 then
                        perform @s@._jsv_re_fail(i + 1, format('duplicate group name ''%s''', name));
                    end if;
                    o := o || '('; stack_quant := stack_quant || true; i := close + 1;
                else
                    perform @s@._jsv_re_fail(i + 1, 'invalid group');
                end if;
            else
                o := o || '('; stack_quant := stack_quant || true; i := i + 1;
            end if;
            continue;
        elsif c = 41 then                                         -- )
            if cardinality(stack_start) = 0 then perform @s@._jsv_re_fail(i - 1, 'unmatched '')'''); end if;
            o := o || ')';
            atom_start := stack_start[cardinality(stack_start)];
            quantifiable := stack_quant[cardinality(stack_quant)];
            stack_start := trim_array(stack_start, 1);
            stack_quant := trim_array(stack_quant, 1);
            i := i + 1;
        elsif c = 94 then                                         -- ^
            o := o || '^'; quantifiable := false; i := i + 1;
        elsif c = 36 then                                         -- $
            o := o || '$'; quantifiable := false; i := i + 1;
        elsif c = 46 then                                         -- .
            o := o || @s@._jsv_re_set('{[0,1114112)}'::int4multirange - line_terminators); i := i + 1;
        elsif c = 91 then                                         -- [...]
            i := i + 1;
            negated := i <= n and p[i] = 94;
            if negated then i := i + 1; end if;
            set := '{}';
            loop
                if i > n then perform @s@._jsv_re_fail(i - 1, 'missing '']'''); end if;
                if p[i] = 93 then i := i + 1; exit; end if;
                -- one class atom
                if p[i] = 92 then
                    if i + 1 > n then perform @s@._jsv_re_fail(i, '\ at end of pattern'); end if;
                    e := @s@._jsv_re_escape(p, i + 1, true);
                    first_set := e.cls;
                    first_cp := case when p[i + 1] in (100, 68, 119, 87, 115, 83, 112, 80) then null else lower(e.cls) end;
                    i := e.nxt;
                else
                    first_cp := p[i];
                    first_set := int4multirange(int4range(p[i], p[i] + 1));
                    i := i + 1;
                end if;
                if i <= n and p[i] = 45 and i + 1 <= n and p[i + 1] <> 93 then
                    i := i + 1;
                    if p[i] = 92 then
                        if i + 1 > n then perform @s@._jsv_re_fail(i, '\ at end of pattern'); end if;
                        e := @s@._jsv_re_escape(p, i + 1, true);
                        last_cp := case when p[i + 1] in (100, 68, 119, 87, 115, 83, 112, 80) then null else lower(e.cls) end;
                        i := e.nxt;
                    else
                        last_cp := p[i];
                        i := i + 1;
                    end if;
                    if first_cp is null or last_cp is null then perform @s@._jsv_re_fail(i - 1, 'invalid character class range'); end if;
                    if last_cp < first_cp then perform @s@._jsv_re_fail(i - 1, 'range out of order in character class'); end if;
                    set := set + int4multirange(int4range(first_cp, last_cp + 1));
                else
                    set := set + first_set;
                end if;
            end loop;
            if negated then set := '{[0,1114112)}'::int4multirange - set; end if;
            o := o || @s@._jsv_re_set(set);
        elsif c = 92 then                                         -- escapes
            if i + 1 > n then perform @s@._jsv_re_fail(i, '\ at end of pattern'); end if;
            c := p[i + 1];
            if c in (98, 66) then                                 -- \b \B
                o := o || case when c = 98
                    then format('(?:(?<=%1$s)(?!%1$s)|(?<!%1$s)(?=%1$s))', w)
                    else format('(?:(?<=%1$s)(?=%1$s)|(?<!%1$s)(?!%1$s))', w) end;
                quantifiable := false;
                i := i + 2;
            elsif c between 49 and 57 then                        -- \1 ... back reference
                k := i + 1;
                while k <= n and p[k] between 48 and 57 loop k := k + 1; end loop;
                number := (select string_agg(chr(x), '' order by oo) from unnest(p[i + 1 : k - 1]) with ordinality as u(x, oo))::numeric;
                if number > cardinality(names) then perform @s@._jsv_re_fail(i + 1, format('reference to group %s, which does not exist', number)); end if;
                o := o || format('(?:\%s)', number);
                i := k;
            elsif c = 107 then                                    -- \k<name>
                close := case when i + 2 <= n and p[i + 2] = 60 then array_position(p, 62, i + 3) end;
                name := case when close is null then '' else (select coalesce(string_agg(chr(x), '' order by oo), '') from unnest(p[i + 3 : close - 1]) with ordinality as u(x, oo)) end;
                number := array_position(names, name);
                if close is null or name = '' or number is null then perform @s@._jsv_re_fail(i + 1, 'invalid named reference'); end if;
                o := o || format('(?:\%s)', number);
                i := close + 1;
            else
                e := @s@._jsv_re_escape(p, i + 1, false);
                o := o || case when e.cls is not null then @s@._jsv_re_set(e.cls) else @s@._jsv_re_literal(e.cp) end;
                i := e.nxt;
            end if;
        elsif c in (42, 43, 63, 123) then
            perform @s@._jsv_re_fail(i - 1, 'nothing to repeat');
        elsif c in (93, 125) then
            perform @s@._jsv_re_fail(i - 1, format('lone ''%s''', chr(c)));
        else
            o := o || @s@._jsv_re_literal(c);
            i := i + 1;
        end if;

        -- a quantifier after the atom
        if i <= n and p[i] in (42, 43, 63, 123) then
            if not quantifiable then perform @s@._jsv_re_fail(i - 1, 'nothing to repeat'); end if;
            if p[i] = 123 then
                close := array_position(p, 125, i);
                body := case when close is null then null else (select coalesce(string_agg(chr(x), '' order by oo), '') from unnest(p[i + 1 : close - 1]) with ordinality as u(x, oo)) end;
                if body is null or body !~ '^[0-9]{1,9}(,([0-9]{1,9})?)?$' then perform @s@._jsv_re_fail(i - 1, 'incomplete quantifier'); end if;
                lo := split_part(body, ',', 1)::int;
                hi := case when position(',' in body) = 0 then lo when split_part(body, ',', 2) = '' then -1 else split_part(body, ',', 2)::int end;
                if hi >= 0 and hi < lo then perform @s@._jsv_re_fail(i - 1, 'numbers out of order in {} quantifier'); end if;
                i := close + 1;
            else
                lo := case p[i] when 42 then 0 when 43 then 1 else 0 end;
                hi := case p[i] when 63 then 1 else -1 end;
                i := i + 1;
            end if;
            if i <= n and p[i] = 63 then i := i + 1; end if;     -- lazy: the same set of matches
            if lo <= 255 and hi <= 255 then
                o := o || @s@._jsv_re_repeat(lo, hi);
            else
                grp := '(?:' || substr(o, atom_start + 1) || ')';
                o := left(o, atom_start)
                    || @s@._jsv_re_bounded(grp, lo, true, i - 1)
                    || case when hi < 0 then grp || '*' else @s@._jsv_re_bounded(grp, hi - lo, false, i - 1) end;
            end if;
        end if;
    end loop;
    if cardinality(stack_start) > 0 then perform @s@._jsv_re_fail(n, 'missing '')'''); end if;
    return o;
end
$fn$
