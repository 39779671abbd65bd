-- JSON Schema (draft 2020-12) validation in PL/pgSQL. @s@ is replaced by the quoted Pliers schema.
-- Statements are separated by lines holding only "---".
-- Interpreter: _jsv_eval walks schema and instance together and returns
--   {"ok": bool, "p": evaluated property names (object name -> true, or true for all),
--    "i": evaluated item indexes (object "n" -> true, or true for all), "e": [errors]}
-- so that unevaluatedProperties/unevaluatedItems see what in-place applicators evaluated.

create function @s@._jsv_resolve(base text, ref text) returns text
language plpgsql immutable strict parallel safe as $fn$
declare
    b text := split_part(base, '#', 1);
    scheme text;
    authority text;
    dir text;
    path text;
    parts text[];
    out text[] := '{}';
    seg text;
    frag text := '';
begin
    if ref ~ '^[A-Za-z][A-Za-z0-9+.-]*:' then
        return ref;
    end if;
    if ref = '' then
        return b;
    end if;
    if left(ref, 1) = '#' then
        return b || ref;
    end if;
    scheme := substring(b from '^([A-Za-z][A-Za-z0-9+.-]*:)');
    if left(ref, 2) = '//' then
        return coalesce(scheme, '') || ref;
    end if;
    authority := substring(b from '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*');
    if position('#' in ref) > 0 then
        frag := '#' || substring(ref from position('#' in ref) + 1);
        ref := split_part(ref, '#', 1);
    end if;
    if left(ref, 1) = '/' then
        path := ref;
    else
        if authority is not null then
            dir := substring(b from length(authority) + 1);
        else
            dir := coalesce(substring(b from length(coalesce(scheme, '')) + 1), '');
        end if;
        dir := regexp_replace(dir, '[^/]*$', '');
        path := dir || ref;
    end if;
    parts := string_to_array(path, '/');
    foreach seg in array parts loop
        if seg = '.' then
            continue;
        elsif seg = '..' then
            if cardinality(out) > 1 then
                out := out[1:cardinality(out) - 1];
            end if;
        else
            out := out || seg;
        end if;
    end loop;
    path := array_to_string(out, '/');
    if ref ~ '(^|/)\.\.?$' then
        path := path || '/';
    end if;
    return coalesce(authority, coalesce(scheme, '')) || path || frag;
end
$fn$
---
create function @s@._jsv_pointer_token(token text) returns text
language plpgsql immutable strict parallel safe as $fn$
declare
    m text;
begin
    -- percent-decoding (URI fragments), then ~1 -> / and ~0 -> ~
    while token ~ '%[0-9A-Fa-f]{2}' loop
        m := substring(token from '%([0-9A-Fa-f]{2})');
        token := replace(token, '%' || m, convert_from(decode(m, 'hex'), 'UTF8'));
    end loop;
    return replace(replace(token, '~1', '/'), '~0', '~');
end
$fn$
---
-- Every schema resource and anchor reachable from doc, keyed by absolute URI:
-- {"uri": {"s": subschema}, "uri#anchor": {"s": subschema, "d": true when it is a $dynamicAnchor}}
create function @s@._jsv_index(doc jsonb, base text, reg jsonb) returns jsonb
language plpgsql immutable parallel safe as $fn$
declare
    k text;
    v jsonb;
    e jsonb;
begin
    if jsonb_typeof(doc) <> 'object' then
        return reg;
    end if;
    if jsonb_typeof(doc -> '$id') = 'string' then
        base := @s@._jsv_resolve(base, doc ->> '$id');
        base := rtrim(base, '#');
        reg := reg || jsonb_build_object(base, jsonb_build_object('s', doc));
    end if;
    if jsonb_typeof(doc -> '$anchor') = 'string' then
        reg := reg || jsonb_build_object(split_part(base, '#', 1) || '#' || (doc ->> '$anchor'), jsonb_build_object('s', doc));
    end if;
    if jsonb_typeof(doc -> '$dynamicAnchor') = 'string' then
        reg := reg || jsonb_build_object(split_part(base, '#', 1) || '#' || (doc ->> '$dynamicAnchor'), jsonb_build_object('s', doc, 'd', true));
    end if;
    for k, v in select * from jsonb_each(doc) loop
        if k in ('items', 'contains', 'additionalProperties', 'propertyNames', 'not', 'if', 'then', 'else',
                 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema') then
            reg := @s@._jsv_index(v, base, reg);
        elsif k in ('properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas') and jsonb_typeof(v) = 'object' then
            for e in select value from jsonb_each(v) loop
                reg := @s@._jsv_index(e, base, reg);
            end loop;
        elsif k in ('allOf', 'anyOf', 'oneOf', 'prefixItems') and jsonb_typeof(v) = 'array' then
            for e in select value from jsonb_array_elements(v) loop
                reg := @s@._jsv_index(e, base, reg);
            end loop;
        end if;
    end loop;
    return reg;
end
$fn$
---
-- Resolves a reference to {"s": target schema, "b": base URI of the target}; raises on an unknown target.
create function @s@._jsv_deref(ref text, base text, reg jsonb) returns jsonb
language plpgsql immutable strict parallel safe as $fn$
declare
    uri text := @s@._jsv_resolve(base, ref);
    doc_uri text := split_part(uri, '#', 1);
    frag text := substring(uri from position('#' in uri) + 1);
    target jsonb;
    tok text;
begin
    if position('#' in uri) = 0 then
        frag := '';
    end if;
    if not reg ? doc_uri then
        raise exception 'JSON Schema $ref "%" cannot be resolved (unknown resource "%")', ref, doc_uri
            using errcode = 'invalid_parameter_value';
    end if;
    if frag = '' then
        return jsonb_build_object('s', reg -> doc_uri -> 's', 'b', doc_uri);
    end if;
    if left(frag, 1) <> '/' then
        if not reg ? (doc_uri || '#' || frag) then
            raise exception 'JSON Schema $ref "%" cannot be resolved (unknown anchor "%")', ref, frag
                using errcode = 'invalid_parameter_value';
        end if;
        return jsonb_build_object('s', reg -> (doc_uri || '#' || frag) -> 's', 'b', doc_uri);
    end if;
    target := reg -> doc_uri -> 's';
    foreach tok in array (string_to_array(substring(frag from 2), '/')) loop
        tok := @s@._jsv_pointer_token(tok);
        if jsonb_typeof(target) = 'array' then
            target := target -> tok::int;
        else
            target := target -> tok;
        end if;
        if target is null then
            raise exception 'JSON Schema $ref "%" cannot be resolved (no value at "%")', ref, frag
                using errcode = 'invalid_parameter_value';
        end if;
        -- entering a subschema with its own $id changes the base
        if jsonb_typeof(target) = 'object' and jsonb_typeof(target -> '$id') = 'string' then
            doc_uri := rtrim(@s@._jsv_resolve(doc_uri, target ->> '$id'), '#');
        end if;
    end loop;
    return jsonb_build_object('s', target, 'b', doc_uri);
end
$fn$
---
create function @s@._jsv_is_type(inst jsonb, t text) returns boolean
language sql immutable strict parallel safe as $fn$
    select case t
        when 'integer' then jsonb_typeof(inst) = 'number' and (inst::text)::numeric = trunc((inst::text)::numeric)
        when 'number' then jsonb_typeof(inst) = 'number'
        else jsonb_typeof(inst) = t
    end
$fn$
---
create function @s@._jsv_fail(path text, keyword text, message text) returns jsonb
language sql immutable strict parallel safe as $fn$
    select jsonb_build_object('ok', false, 'e', jsonb_build_array(jsonb_build_object('path', path, 'keyword', keyword, 'message', message)))
$fn$
---
create function @s@._jsv_ptr(path text, token text) returns text
language sql immutable strict parallel safe as $fn$
    select path || '/' || replace(replace(token, '~', '~0'), '/', '~1')
$fn$
---
create function @s@._jsv_regex(pattern text) returns text
language sql immutable strict parallel safe as $fn$
    -- ECMA-262 Unicode property escapes have no ARE equivalent: letters and digits are mapped to code-point
    -- ranges (Latin, Greek, Cyrillic, Armenian, Hebrew, Arabic, Devanagari, CJK, Hangul), independent of the
    -- server's locale.
    select replace(replace(replace(replace(replace(replace(replace(replace(pattern,
        '\p{Letter}', '[A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02C1\u0370-\u0373\u0376-\u03FF\u0400-\u0481\u048A-\u052F\u0531-\u0556\u0561-\u0587\u05D0-\u05EA\u0620-\u064A\u0904-\u0939\u3041-\u3096\u30A1-\u30FA\u4E00-\u9FFF\uAC00-\uD7A3]'),
        '\p{L}', '[A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02C1\u0370-\u0373\u0376-\u03FF\u0400-\u0481\u048A-\u052F\u0531-\u0556\u0561-\u0587\u05D0-\u05EA\u0620-\u064A\u0904-\u0939\u3041-\u3096\u30A1-\u30FA\u4E00-\u9FFF\uAC00-\uD7A3]'),
        '\P{Letter}', '[^A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02C1\u0370-\u0373\u0376-\u03FF\u0400-\u0481\u048A-\u052F\u0531-\u0556\u0561-\u0587\u05D0-\u05EA\u0620-\u064A\u0904-\u0939\u3041-\u3096\u30A1-\u30FA\u4E00-\u9FFF\uAC00-\uD7A3]'),
        '\P{L}', '[^A-Za-z\u00AA\u00B5\u00BA\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02C1\u0370-\u0373\u0376-\u03FF\u0400-\u0481\u048A-\u052F\u0531-\u0556\u0561-\u0587\u05D0-\u05EA\u0620-\u064A\u0904-\u0939\u3041-\u3096\u30A1-\u30FA\u4E00-\u9FFF\uAC00-\uD7A3]'),
        '\p{Nd}', '[0-9\u0660-\u0669\u06F0-\u06F9\u0966-\u096F\uFF10-\uFF19]'),
        '\p{N}', '[0-9\u00B2\u00B3\u00B9\u00BC-\u00BE\u0660-\u0669\u06F0-\u06F9\u0966-\u096F\uFF10-\uFF19]'),
        '\p{Digit}', '[0-9\u0660-\u0669\u06F0-\u06F9\u0966-\u096F\uFF10-\uFF19]'),
        '\P{Nd}', '[^0-9\u0660-\u0669\u06F0-\u06F9\u0966-\u096F\uFF10-\uFF19]')
$fn$
---
-- The interpreter. st = {"b": base URI, "d": [dynamic scope: base URIs entered, outermost first]}.
create function @s@._jsv_eval(sch jsonb, inst jsonb, st jsonb, reg jsonb, path text, collect boolean, depth int)
returns jsonb
language plpgsql immutable parallel safe as $fn$
declare
    ok boolean := true;
    errs jsonb := '[]';
    ep jsonb := '{}';          -- evaluated properties
    ei jsonb := '{}';          -- evaluated items
    r jsonb;
    sub jsonb;
    k text;
    v jsonb;
    n int;
    cnt int;
    i int;
    t text;
    x numeric;
    lim numeric;
    typ text := jsonb_typeof(inst);
    base text := st ->> 'b';
    matched boolean;
    valid_count int;
    props jsonb;
    pats jsonb;
    tgt jsonb;
    dyn text;
    anchor text;
    s2 jsonb;
    len int;
begin
    if depth > 120 then
        raise exception 'JSON Schema evaluation is nested too deeply (a $ref cycle that consumes no input?)'
            using errcode = 'program_limit_exceeded';
    end if;
    if sch = 'true'::jsonb or sch = '{}'::jsonb then
        return '{"ok": true, "p": {}, "i": {}}';
    end if;
    if sch = 'false'::jsonb then
        return @s@._jsv_fail(path, 'false', 'no value is allowed here (false schema)');
    end if;
    if jsonb_typeof(sch) <> 'object' then
        raise exception 'a JSON Schema must be an object or a boolean, found %', jsonb_typeof(sch)
            using errcode = 'invalid_parameter_value';
    end if;

    -- a $ref target arrives with its own $id already applied ("r"); anything else applies it here
    if jsonb_typeof(sch -> '$id') = 'string' and not coalesce((st ->> 'r')::boolean, false) then
        base := rtrim(@s@._jsv_resolve(base, sch ->> '$id'), '#');
        st := jsonb_build_object('b', base, 'd', coalesce(st -> 'd', '[]') || to_jsonb(base));
    end if;
    st := st - 'r';

    -- $ref and $dynamicRef: in-place applicators
    if jsonb_typeof(sch -> '$ref') = 'string' then
        tgt := @s@._jsv_deref(sch ->> '$ref', base, reg);
        r := @s@._jsv_eval(tgt -> 's', inst, jsonb_build_object('b', tgt ->> 'b', 'r', true, 'd', coalesce(st -> 'd', '[]') || to_jsonb(tgt ->> 'b')), reg, path, collect, depth + 1);
        if not (r ->> 'ok')::boolean then
            ok := false; errs := errs || (r -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        else
            ep := ep || coalesce(r -> 'p', '{}'); ei := ei || coalesce(r -> 'i', '{}');
        end if;
    end if;
    if jsonb_typeof(sch -> '$dynamicRef') = 'string' then
        tgt := @s@._jsv_deref(sch ->> '$dynamicRef', base, reg);
        anchor := substring(sch ->> '$dynamicRef' from '#([A-Za-z_][-A-Za-z0-9._]*)$');
        if anchor is not null and coalesce(tgt -> 's' ->> '$dynamicAnchor', '') = anchor then
            -- the outermost resource in the dynamic scope that declares this dynamic anchor wins
            for dyn in select value #>> '{}' from jsonb_array_elements(coalesce(st -> 'd', '[]')) loop
                if coalesce((reg -> (dyn || '#' || anchor) ->> 'd')::boolean, false) then
                    tgt := jsonb_build_object('s', reg -> (dyn || '#' || anchor) -> 's', 'b', dyn);
                    exit;
                end if;
            end loop;
        end if;
        r := @s@._jsv_eval(tgt -> 's', inst, jsonb_build_object('b', tgt ->> 'b', 'r', true, 'd', coalesce(st -> 'd', '[]') || to_jsonb(tgt ->> 'b')), reg, path, collect, depth + 1);
        if not (r ->> 'ok')::boolean then
            ok := false; errs := errs || (r -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        else
            ep := ep || coalesce(r -> 'p', '{}'); ei := ei || coalesce(r -> 'i', '{}');
        end if;
    end if;

    -- type, enum, const
    if sch ? 'type' then
        matched := false;
        if jsonb_typeof(sch -> 'type') = 'array' then
            for t in select value #>> '{}' from jsonb_array_elements(sch -> 'type') loop
                if @s@._jsv_is_type(inst, t) then matched := true; exit; end if;
            end loop;
        else
            matched := @s@._jsv_is_type(inst, sch ->> 'type');
        end if;
        if not matched then
            ok := false;
            errs := errs || (@s@._jsv_fail(path, 'type', format('expected %s, found %s', sch -> 'type', typ)) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if sch ? 'enum' then
        if not exists (select 1 from jsonb_array_elements(sch -> 'enum') e where e.value = inst) then
            ok := false;
            errs := errs || (@s@._jsv_fail(path, 'enum', 'value is not one of ' || left((sch -> 'enum')::text, 200)) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if sch ? 'const' and (sch -> 'const') <> inst then
        ok := false;
        errs := errs || (@s@._jsv_fail(path, 'const', 'value must be ' || left((sch -> 'const')::text, 200)) -> 'e');
        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
    end if;

    -- numbers
    if typ = 'number' then
        x := (inst::text)::numeric;
        if jsonb_typeof(sch -> 'minimum') = 'number' and x < (sch ->> 'minimum')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'minimum', format('%s is less than the minimum %s', x, sch ->> 'minimum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maximum') = 'number' and x > (sch ->> 'maximum')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'maximum', format('%s is greater than the maximum %s', x, sch ->> 'maximum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'exclusiveMinimum') = 'number' and x <= (sch ->> 'exclusiveMinimum')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'exclusiveMinimum', format('%s must be greater than %s', x, sch ->> 'exclusiveMinimum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'exclusiveMaximum') = 'number' and x >= (sch ->> 'exclusiveMaximum')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'exclusiveMaximum', format('%s must be less than %s', x, sch ->> 'exclusiveMaximum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'multipleOf') = 'number' then
            lim := (sch ->> 'multipleOf')::numeric;
            if lim > 0 and x % lim <> 0 then
                ok := false; errs := errs || (@s@._jsv_fail(path, 'multipleOf', format('%s is not a multiple of %s', x, lim)) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
    end if;

    -- strings
    if typ = 'string' then
        t := inst #>> '{}';
        if jsonb_typeof(sch -> 'minLength') = 'number' and length(t) < (sch ->> 'minLength')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'minLength', format('must be at least %s characters long', sch ->> 'minLength')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maxLength') = 'number' and length(t) > (sch ->> 'maxLength')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'maxLength', format('must be at most %s characters long', sch ->> 'maxLength')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'pattern') = 'string' and not (t ~ @s@._jsv_regex(sch ->> 'pattern')) then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'pattern', format('does not match the pattern %s', sch ->> 'pattern')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;

    -- objects
    if typ = 'object' then
        if jsonb_typeof(sch -> 'required') = 'array' then
            for t in select value #>> '{}' from jsonb_array_elements(sch -> 'required') loop
                if not inst ? t then
                    ok := false; errs := errs || (@s@._jsv_fail(@s@._jsv_ptr(path, t), 'required', format('"%s" is required', t)) -> 'e');
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end loop;
        end if;
        if jsonb_typeof(sch -> 'minProperties') = 'number' or jsonb_typeof(sch -> 'maxProperties') = 'number' then
            select count(*) into cnt from jsonb_object_keys(inst);
            if cnt < coalesce((sch ->> 'minProperties')::numeric, 0) then
                ok := false; errs := errs || (@s@._jsv_fail(path, 'minProperties', format('must have at least %s properties', sch ->> 'minProperties')) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
            if jsonb_typeof(sch -> 'maxProperties') = 'number' and cnt > (sch ->> 'maxProperties')::numeric then
                ok := false; errs := errs || (@s@._jsv_fail(path, 'maxProperties', format('must have at most %s properties', sch ->> 'maxProperties')) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
        if jsonb_typeof(sch -> 'dependentRequired') = 'object' then
            for k, v in select * from jsonb_each(sch -> 'dependentRequired') loop
                if inst ? k then
                    for t in select value #>> '{}' from jsonb_array_elements(v) loop
                        if not inst ? t then
                            ok := false; errs := errs || (@s@._jsv_fail(@s@._jsv_ptr(path, t), 'dependentRequired', format('"%s" is required when "%s" is present', t, k)) -> 'e');
                            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                        end if;
                    end loop;
                end if;
            end loop;
        end if;
        props := case when jsonb_typeof(sch -> 'properties') = 'object' then sch -> 'properties' end;
        pats := case when jsonb_typeof(sch -> 'patternProperties') = 'object' then sch -> 'patternProperties' end;
        if props is not null or pats is not null or sch ? 'additionalProperties' or sch ? 'propertyNames' then
            for k, v in select * from jsonb_each(inst) loop
                matched := false;
                if props is not null and props ? k then
                    matched := true;
                    ep := ep || jsonb_build_object(k, true);
                    r := @s@._jsv_eval(props -> k, v, st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                    if not (r ->> 'ok')::boolean then
                        ok := false; errs := errs || (r -> 'e');
                        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                    end if;
                end if;
                if pats is not null then
                    for t, s2 in select * from jsonb_each(pats) loop
                        if k ~ @s@._jsv_regex(t) then
                            matched := true;
                            ep := ep || jsonb_build_object(k, true);
                            r := @s@._jsv_eval(s2, v, st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                            if not (r ->> 'ok')::boolean then
                                ok := false; errs := errs || (r -> 'e');
                                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                            end if;
                        end if;
                    end loop;
                end if;
                if not matched and sch ? 'additionalProperties' then
                    ep := ep || jsonb_build_object(k, true);
                    r := @s@._jsv_eval(sch -> 'additionalProperties', v, st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                    if not (r ->> 'ok')::boolean then
                        ok := false;
                        errs := errs || case when sch -> 'additionalProperties' = 'false'::jsonb
                            then @s@._jsv_fail(@s@._jsv_ptr(path, k), 'additionalProperties', format('"%s" is not allowed', k)) -> 'e'
                            else r -> 'e' end;
                        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                    end if;
                end if;
                if sch ? 'propertyNames' then
                    r := @s@._jsv_eval(sch -> 'propertyNames', to_jsonb(k), st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                    if not (r ->> 'ok')::boolean then
                        ok := false; errs := errs || (@s@._jsv_fail(@s@._jsv_ptr(path, k), 'propertyNames', format('property name "%s" is not allowed', k)) -> 'e');
                        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                    end if;
                end if;
            end loop;
        end if;
        if jsonb_typeof(sch -> 'dependentSchemas') = 'object' then
            for k, v in select * from jsonb_each(sch -> 'dependentSchemas') loop
                if inst ? k then
                    r := @s@._jsv_eval(v, inst, st, reg, path, collect, depth + 1);
                    if not (r ->> 'ok')::boolean then
                        ok := false; errs := errs || (r -> 'e');
                        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                    else
                        ep := ep || coalesce(r -> 'p', '{}');
                    end if;
                end if;
            end loop;
        end if;
    end if;

    -- arrays
    if typ = 'array' then
        len := jsonb_array_length(inst);
        if jsonb_typeof(sch -> 'minItems') = 'number' and len < (sch ->> 'minItems')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'minItems', format('must have at least %s items', sch ->> 'minItems')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maxItems') = 'number' and len > (sch ->> 'maxItems')::numeric then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'maxItems', format('must have at most %s items', sch ->> 'maxItems')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if sch -> 'uniqueItems' = 'true'::jsonb and len > 1 then
            if exists (select 1 from jsonb_array_elements(inst) with ordinality a(v, o)
                       join jsonb_array_elements(inst) with ordinality b(v, o) on a.o < b.o and a.v = b.v) then
                ok := false; errs := errs || (@s@._jsv_fail(path, 'uniqueItems', 'items must be unique') -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
        n := 0;
        if jsonb_typeof(sch -> 'prefixItems') = 'array' then
            n := jsonb_array_length(sch -> 'prefixItems');
            for i in 0 .. least(n, len) - 1 loop
                ei := ei || jsonb_build_object(i::text, true);
                r := @s@._jsv_eval(sch -> 'prefixItems' -> i, inst -> i, st, reg, path || '/' || i, collect, depth + 1);
                if not (r ->> 'ok')::boolean then
                    ok := false; errs := errs || (r -> 'e');
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end loop;
        end if;
        if sch ? 'items' then
            for i in n .. len - 1 loop
                r := @s@._jsv_eval(sch -> 'items', inst -> i, st, reg, path || '/' || i, collect, depth + 1);
                if not (r ->> 'ok')::boolean then
                    ok := false; errs := errs || (r -> 'e');
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end loop;
            ei := 'true';
        end if;
        if sch ? 'contains' then
            valid_count := 0;
            for i in 0 .. len - 1 loop
                r := @s@._jsv_eval(sch -> 'contains', inst -> i, st, reg, path || '/' || i, false, depth + 1);
                if (r ->> 'ok')::boolean then
                    valid_count := valid_count + 1;
                    if jsonb_typeof(ei) = 'object' then ei := ei || jsonb_build_object(i::text, true); end if;
                end if;
            end loop;
            if valid_count < coalesce((sch ->> 'minContains')::numeric, 1) then
                ok := false; errs := errs || (@s@._jsv_fail(path, case when sch ? 'minContains' then 'minContains' else 'contains' end,
                    format('must contain at least %s matching item(s), found %s', coalesce(sch ->> 'minContains', '1'), valid_count)) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
            if jsonb_typeof(sch -> 'maxContains') = 'number' and valid_count > (sch ->> 'maxContains')::numeric then
                ok := false; errs := errs || (@s@._jsv_fail(path, 'maxContains', format('must contain at most %s matching item(s), found %s', sch ->> 'maxContains', valid_count)) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
    end if;

    -- in-place applicators
    if jsonb_typeof(sch -> 'allOf') = 'array' then
        for sub in select value from jsonb_array_elements(sch -> 'allOf') loop
            r := @s@._jsv_eval(sub, inst, st, reg, path, collect, depth + 1);
            if not (r ->> 'ok')::boolean then
                ok := false; errs := errs || (r -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            else
                ep := ep || coalesce(r -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, r -> 'i');
            end if;
        end loop;
    end if;
    if jsonb_typeof(sch -> 'anyOf') = 'array' then
        matched := false;
        for sub in select value from jsonb_array_elements(sch -> 'anyOf') loop
            r := @s@._jsv_eval(sub, inst, st, reg, path, false, depth + 1);
            if (r ->> 'ok')::boolean then
                matched := true;
                -- every branch is evaluated: a parent's unevaluated* needs the annotations of all that match
                ep := ep || coalesce(r -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, r -> 'i');
            end if;
        end loop;
        if not matched then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'anyOf', 'does not match any of the allowed schemas') -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if jsonb_typeof(sch -> 'oneOf') = 'array' then
        valid_count := 0;
        for sub in select value from jsonb_array_elements(sch -> 'oneOf') loop
            r := @s@._jsv_eval(sub, inst, st, reg, path, false, depth + 1);
            if (r ->> 'ok')::boolean then
                valid_count := valid_count + 1;
                tgt := r;
            end if;
        end loop;
        if valid_count <> 1 then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'oneOf', format('must match exactly one of the schemas, matches %s', valid_count)) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        else
            ep := ep || coalesce(tgt -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, tgt -> 'i');
        end if;
    end if;
    if sch ? 'not' then
        r := @s@._jsv_eval(sch -> 'not', inst, st, reg, path, false, depth + 1);
        if (r ->> 'ok')::boolean then
            ok := false; errs := errs || (@s@._jsv_fail(path, 'not', 'must not match the schema in "not"') -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if sch ? 'if' then
        r := @s@._jsv_eval(sch -> 'if', inst, st, reg, path, false, depth + 1);
        if (r ->> 'ok')::boolean then
            ep := ep || coalesce(r -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, r -> 'i');
            if sch ? 'then' then
                r := @s@._jsv_eval(sch -> 'then', inst, st, reg, path, collect, depth + 1);
                if not (r ->> 'ok')::boolean then
                    ok := false; errs := errs || (r -> 'e');
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                else
                    ep := ep || coalesce(r -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, r -> 'i');
                end if;
            end if;
        elsif sch ? 'else' then
            r := @s@._jsv_eval(sch -> 'else', inst, st, reg, path, collect, depth + 1);
            if not (r ->> 'ok')::boolean then
                ok := false; errs := errs || (r -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            else
                ep := ep || coalesce(r -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, r -> 'i');
            end if;
        end if;
    end if;

    -- unevaluated*: after everything else in this schema object
    if typ = 'object' and sch ? 'unevaluatedProperties' and jsonb_typeof(ep) = 'object' then
        for k, v in select * from jsonb_each(inst) loop
            if not ep ? k then
                r := @s@._jsv_eval(sch -> 'unevaluatedProperties', v, st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                if not (r ->> 'ok')::boolean then
                    ok := false;
                    errs := errs || case when sch -> 'unevaluatedProperties' = 'false'::jsonb
                        then @s@._jsv_fail(@s@._jsv_ptr(path, k), 'unevaluatedProperties', format('"%s" is not allowed', k)) -> 'e'
                        else r -> 'e' end;
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end if;
        end loop;
        ep := 'true';
    end if;
    if typ = 'array' and sch ? 'unevaluatedItems' and jsonb_typeof(ei) = 'object' then
        for i in 0 .. jsonb_array_length(inst) - 1 loop
            if not ei ? i::text then
                r := @s@._jsv_eval(sch -> 'unevaluatedItems', inst -> i, st, reg, path || '/' || i, collect, depth + 1);
                if not (r ->> 'ok')::boolean then
                    ok := false;
                    errs := errs || case when sch -> 'unevaluatedItems' = 'false'::jsonb
                        then @s@._jsv_fail(path || '/' || i, 'unevaluatedItems', format('item %s is not allowed', i)) -> 'e'
                        else r -> 'e' end;
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end if;
        end loop;
        ei := 'true';
    end if;

    if not ok then
        return jsonb_build_object('ok', false, 'e', errs);
    end if;
    return jsonb_build_object('ok', true, 'p', ep, 'i', ei);
end
$fn$
---
create function @s@._jsv_merge_items(a jsonb, b jsonb) returns jsonb
language sql immutable parallel safe as $fn$
    select case when a = 'true'::jsonb or b = 'true'::jsonb then 'true'::jsonb else coalesce(a, '{}') || coalesce(b, '{}') end
$fn$
---
create function @s@._jsv_run(schema jsonb, instance jsonb, resources jsonb, collect boolean) returns jsonb
language plpgsql immutable parallel safe as $fn$
declare
    root text := 'urn:pliers:root';
    reg jsonb := '{}';
    k text;
    v jsonb;
begin
    if jsonb_typeof(schema) = 'object' and jsonb_typeof(schema -> '$id') = 'string' then
        root := rtrim(@s@._jsv_resolve(root, schema ->> '$id'), '#');
    end if;
    reg := @s@._jsv_index(schema, 'urn:pliers:root', jsonb_build_object('urn:pliers:root', jsonb_build_object('s', schema), root, jsonb_build_object('s', schema)));
    for k, v in select * from jsonb_each(coalesce(resources, '{}')) loop
        reg := @s@._jsv_index(v, k, reg || jsonb_build_object(rtrim(k, '#'), jsonb_build_object('s', v)));
    end loop;
    return @s@._jsv_eval(schema, instance, jsonb_build_object('b', root, 'd', jsonb_build_array(root)), reg, '', collect, 0);
end
$fn$
---
-- Compiler: turns a schema without references into one SQL/JSON path predicate (jsonpath, evaluated in C).
-- Returns {"p": predicate text, "u": [residual checks]} or null when some keyword cannot be expressed (then
-- the interpreter runs). cur is the path of the current value ("$", "@.value", "$[2]"); loc is its static
-- location (a JSON array of member names) when it is reached unconditionally through properties only, else
-- null. Residual checks are what jsonpath does badly, at static locations: uniqueItems (no way to compare two
-- items) and long min/maxLength (a bounded regex costs O(length x bound)); each is {"k": kind, "n": bound, "p": loc}.
create function @s@._jsv_q(t text) returns text
language sql immutable strict parallel safe as $fn$
    select '"' || replace(replace(replace(replace(replace(t, '\', '\\'), '"', '\"'), e'\n', '\n'), e'\r', '\r'), e'\t', '\t') || '"'
$fn$
---
create function @s@._jsv_lenre(n numeric, at_least boolean) returns text
language plpgsql immutable strict parallel safe as $fn$
declare
    q int := floor(n / 255);
    r int := (n - q * 255)::int;
begin
    if n <> trunc(n) or n < 0 or n > 100000 then
        return null;
    end if;
    if at_least then
        return case when q = 0 then format('^.{%s,}', r) else format('^(.{255}){%s}.{%s,}', q, r) end;
    end if;
    if q = 0 then
        return format('^.{0,%s}$', r);
    end if;
    return format('^((.{255}){0,%s}.{0,255}|(.{255}){%s}.{0,%s})$', q - 1, q, r);
end
$fn$
---
create function @s@._jsv_non_array(sch jsonb) returns boolean
language sql immutable strict parallel safe as $fn$
    select jsonb_typeof(sch) = 'object' and (
        (jsonb_typeof(sch -> 'type') = 'string' and sch ->> 'type' <> 'array')
        or (jsonb_typeof(sch -> 'type') = 'array' and not (sch -> 'type') ? 'array')
        or (sch ? 'const' and jsonb_typeof(sch -> 'const') <> 'array')
        or (jsonb_typeof(sch -> 'enum') = 'array'
            and not exists (select 1 from jsonb_array_elements(sch -> 'enum') e where jsonb_typeof(e) = 'array')))
$fn$
---
create function @s@._jsv_guard(cur text, kind text, declared text, alts text[]) returns text
language sql immutable parallel safe as $fn$
    -- keywords of one JSON type: guarded by a type test unless the schema declares exactly that type
    select case when declared = kind then '(' || array_to_string(alts, ' && ') || ')'
                else format('(%s.type() != "%s" || (%s))', cur, kind, array_to_string(alts, ' && ')) end
$fn$
---
create function @s@._jsv_pc(sch jsonb, cur text, loc jsonb) returns jsonb
language plpgsql immutable parallel safe as $fn$
declare
    parts text[] := '{}';
    u jsonb := '[]';
    r jsonb;
    k text;
    v jsonb;
    t text;
    x text;
    alts text[];
    keys text[];
    n int;
    i int;
    j int;
    branch text[];
    typ text;
begin
    if sch = 'true'::jsonb then
        return '{"p": "(1 == 1)", "u": []}';
    elsif sch = 'false'::jsonb then
        return '{"p": "(1 == 0)", "u": []}';
    elsif jsonb_typeof(sch) <> 'object' then
        return null;
    end if;
    -- keywords the compiler leaves to the interpreter
    if sch ?| array['$ref', '$dynamicRef', '$recursiveRef', 'unevaluatedProperties', 'unevaluatedItems',
                    'minProperties', 'maxProperties', 'maxContains', 'minContains', '$id', '$anchor', '$dynamicAnchor'] then
        return null;
    end if;

    -- with a single declared type, keywords of that type need no type guard (the type test runs first and
    -- && short-circuits) and keywords of other types can never apply
    x := case when jsonb_typeof(sch -> 'type') = 'string' then sch ->> 'type' end;
    if x = 'integer' then x := 'number'; end if;
    if sch ? 'type' then
        alts := '{}';
        for typ in select value #>> '{}' from jsonb_array_elements(case when jsonb_typeof(sch -> 'type') = 'array' then sch -> 'type' else jsonb_build_array(sch -> 'type') end) loop
            alts := alts || case typ
                when 'integer' then format('(%s.type() == "number" && %s == %s.floor())', cur, cur, cur)
                when 'number' then format('%s.type() == "number"', cur)
                when 'string' then format('%s.type() == "string"', cur)
                when 'object' then format('%s.type() == "object"', cur)
                when 'array' then format('%s.type() == "array"', cur)
                when 'boolean' then format('%s.type() == "boolean"', cur)
                when 'null' then format('%s.type() == "null"', cur)
                else '(1 == 0)' end;
        end loop;
        parts := parts || ('(' || coalesce(array_to_string(alts, ' || '), '(1 == 0)') || ')');
    end if;
    if sch ? 'enum' or sch ? 'const' then
        alts := '{}';
        for v in select value from jsonb_array_elements(case when sch ? 'const' then jsonb_build_array(sch -> 'const') else sch -> 'enum' end) loop
            alts := alts || case jsonb_typeof(v)
                when 'string' then format('(%s.type() == "string" && %s == %s)', cur, cur, @s@._jsv_q(v #>> '{}'))
                when 'number' then format('(%s.type() == "number" && %s == %s)', cur, cur, v::text)
                when 'boolean' then format('(%s.type() == "boolean" && %s == %s)', cur, cur, v::text)
                when 'null' then format('%s.type() == "null"', cur)
                else null end;
            if jsonb_typeof(v) in ('object', 'array') then
                return null;
            end if;
        end loop;
        if sch ? 'const' and sch ? 'enum' then
            return null;
        end if;
        parts := parts || ('(' || coalesce(array_to_string(alts, ' || '), '(1 == 0)') || ')');
    end if;

    -- numbers
    alts := '{}';
    if jsonb_typeof(sch -> 'minimum') = 'number' then alts := alts || format('%s >= %s', cur, sch ->> 'minimum'); end if;
    if jsonb_typeof(sch -> 'maximum') = 'number' then alts := alts || format('%s <= %s', cur, sch ->> 'maximum'); end if;
    if jsonb_typeof(sch -> 'exclusiveMinimum') = 'number' then alts := alts || format('%s > %s', cur, sch ->> 'exclusiveMinimum'); end if;
    if jsonb_typeof(sch -> 'exclusiveMaximum') = 'number' then alts := alts || format('%s < %s', cur, sch ->> 'exclusiveMaximum'); end if;
    if jsonb_typeof(sch -> 'multipleOf') = 'number' then alts := alts || format('%s %% %s == 0', cur, sch ->> 'multipleOf'); end if;
    if cardinality(alts) > 0 then
        parts := parts || @s@._jsv_guard(cur, 'number', x, alts);
    end if;

    -- strings
    typ := x;           -- the single declared type (or null) survives the regex temporaries below
    alts := '{}';
    if jsonb_typeof(sch -> 'minLength') = 'number' and (sch ->> 'minLength')::numeric > 0 then
        if loc is not null then
            u := u || jsonb_build_object('k', 'min', 'n', sch -> 'minLength', 'p', loc);
        else
            t := @s@._jsv_lenre((sch ->> 'minLength')::numeric, true);
            if t is null then return null; end if;
            alts := alts || format('%s like_regex %s flag "s"', cur, @s@._jsv_q(t));
        end if;
    end if;
    if jsonb_typeof(sch -> 'maxLength') = 'number' then
        if loc is not null then
            u := u || jsonb_build_object('k', 'max', 'n', sch -> 'maxLength', 'p', loc);
        else
            -- "not longer than n" as "has no n+1 characters": the regex stops after n+1 characters
            t := @s@._jsv_lenre((sch ->> 'maxLength')::numeric + 1, true);
            if t is null then return null; end if;
            alts := alts || format('!(%s like_regex %s flag "s")', cur, @s@._jsv_q(t));
        end if;
    end if;
    if jsonb_typeof(sch -> 'pattern') = 'string' then
        alts := alts || format('%s like_regex %s', cur, @s@._jsv_q(@s@._jsv_regex(sch ->> 'pattern')));
    end if;
    if cardinality(alts) > 0 then
        parts := parts || @s@._jsv_guard(cur, 'string', x, alts);
    end if;

    -- objects. The predicate runs in lax mode, where a missing member is simply absent (no error), so each
    -- declared property costs one lookup: (!exists(cur."a") || SUB(cur."a")). Lax mode unwraps arrays in
    -- member accessors, comparisons and filters; every keyword is therefore guarded by its type test, and
    -- filters run only over keyvalue() items (always objects) or over array elements known not to be arrays.
    alts := '{}';
    if jsonb_typeof(sch -> 'required') = 'array' then
        for t in select value #>> '{}' from jsonb_array_elements(sch -> 'required') loop
            alts := alts || format('exists(%s.%s)', cur, @s@._jsv_q(t));
        end loop;
    end if;
    if jsonb_typeof(sch -> 'dependentRequired') = 'object' then
        for k, v in select * from jsonb_each(sch -> 'dependentRequired') loop
            branch := '{}';
            for t in select value #>> '{}' from jsonb_array_elements(v) loop
                branch := branch || format('exists(%s.%s)', cur, @s@._jsv_q(t));
            end loop;
            if cardinality(branch) > 0 then
                alts := alts || format('(!exists(%s.%s) || (%s))', cur, @s@._jsv_q(k), array_to_string(branch, ' && '));
            end if;
        end loop;
    end if;
    if jsonb_typeof(sch -> 'dependentSchemas') = 'object' then
        for k, v in select * from jsonb_each(sch -> 'dependentSchemas') loop
            r := @s@._jsv_pc(v, cur, null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || format('(!exists(%s.%s) || %s)', cur, @s@._jsv_q(k), r ->> 'p');
        end loop;
    end if;
    keys := '{}';
    if jsonb_typeof(sch -> 'properties') = 'object' then
        for k, v in select * from jsonb_each(sch -> 'properties') loop
            keys := keys || k;
            if v = 'true'::jsonb then continue; end if;
            r := @s@._jsv_pc(v, format('%s.%s', cur, @s@._jsv_q(k)), case when loc is not null then loc || to_jsonb(k) end);
            if r is null then return null; end if;
            u := u || (r -> 'u');
            -- a required member is known to exist here (its exists() test came first in the && chain)
            alts := alts || case when jsonb_typeof(sch -> 'required') = 'array' and (sch -> 'required') ? k
                                 then r ->> 'p'
                                 else format('(!exists(%s.%s) || %s)', cur, @s@._jsv_q(k), r ->> 'p') end;
        end loop;
    end if;
    if jsonb_typeof(sch -> 'patternProperties') = 'object' then
        for k, v in select * from jsonb_each(sch -> 'patternProperties') loop
            r := @s@._jsv_pc(v, '@.value', null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || format('!exists(%s.keyvalue() ? (@.key like_regex %s && !(%s)))', cur, @s@._jsv_q(@s@._jsv_regex(k)), r ->> 'p');
        end loop;
    end if;
    if sch ? 'additionalProperties' and sch -> 'additionalProperties' <> 'true'::jsonb then
        if sch -> 'additionalProperties' = 'false'::jsonb and loc is not null and not sch ? 'patternProperties' then
            -- at a static location: "no other member" is (object - declared names) = {} (a residual check)
            u := u || jsonb_build_object('k', 'only', 'n', 0, 'p', loc, 'names', to_jsonb(keys));
        else
            r := @s@._jsv_pc(sch -> 'additionalProperties', '@.value', null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            branch := '{}';
            foreach t in array keys loop
                branch := branch || format('@.key != %s', @s@._jsv_q(t));
            end loop;
            if jsonb_typeof(sch -> 'patternProperties') = 'object' then
                for k in select jsonb_object_keys(sch -> 'patternProperties') loop
                    branch := branch || format('!(@.key like_regex %s)', @s@._jsv_q(@s@._jsv_regex(k)));
                end loop;
            end if;
            branch := branch || format('!(%s)', r ->> 'p');
            alts := alts || format('!exists(%s.keyvalue() ? (%s))', cur, array_to_string(branch, ' && '));
        end if;
    end if;
    if sch ? 'propertyNames' and sch -> 'propertyNames' <> 'true'::jsonb then
        r := @s@._jsv_pc(sch -> 'propertyNames', '@.key', null);
        if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
        alts := alts || format('!exists(%s.keyvalue() ? (!(%s)))', cur, r ->> 'p');
    end if;
    if cardinality(alts) > 0 then
        parts := parts || @s@._jsv_guard(cur, 'object', typ, alts);
    end if;

    -- arrays
    alts := '{}';
    if jsonb_typeof(sch -> 'minItems') = 'number' then alts := alts || format('%s.size() >= %s', cur, sch ->> 'minItems'); end if;
    if jsonb_typeof(sch -> 'maxItems') = 'number' then alts := alts || format('%s.size() <= %s', cur, sch ->> 'maxItems'); end if;
    n := 0;
    if jsonb_typeof(sch -> 'prefixItems') = 'array' then
        n := jsonb_array_length(sch -> 'prefixItems');
        for i in 0 .. n - 1 loop
            r := @s@._jsv_pc(sch -> 'prefixItems' -> i, format('%s[%s]', cur, i), null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || format('(%s.size() <= %s || %s)', cur, i, r ->> 'p');
        end loop;
    end if;
    -- a lax filter would unwrap array elements, so element filters are only used when the subschema
    -- declares a type other than array, and behind a check that no element is an array
    if sch ? 'items' and sch -> 'items' <> 'true'::jsonb then
        if sch -> 'items' = 'false'::jsonb then
            alts := alts || format('%s.size() <= %s', cur, n);
        else
            if not coalesce(@s@._jsv_non_array(sch -> 'items'), false) then return null; end if;
            r := @s@._jsv_pc(sch -> 'items', '@', null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || format('(%s.size() <= %s || (!exists(%s[%s to last].type() ? (@ == "array")) && !exists(%s[%s to last] ? (!(%s)))))', cur, n, cur, n, cur, n, r ->> 'p');
        end if;
    end if;
    if sch ? 'contains' then
        if not coalesce(@s@._jsv_non_array(sch -> 'contains'), false) then return null; end if;
        r := @s@._jsv_pc(sch -> 'contains', '@', null);
        if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
        alts := alts || format('exists(%s[*] ? (%s))', cur, r ->> 'p');
    end if;
    if sch -> 'uniqueItems' = 'true'::jsonb then
        -- small arrays of scalars: compare every pair in the predicate; otherwise a residual check
        n := case when jsonb_typeof(sch -> 'maxItems') = 'number' then (sch ->> 'maxItems')::int end;
        if n is not null and n <= 12 and sch -> 'items' ->> 'type' in ('string', 'number', 'integer', 'boolean') then
            -- nested so that evaluation stops at the array's end: size <= 1 || (a0 != a1 && (size <= 2 || ...))
            t := '(1 == 1)';
            for j in reverse n - 1 .. 1 loop
                branch := '{}';
                for i in 0 .. j - 1 loop
                    branch := branch || format('%s[%s] != %s[%s]', cur, i, cur, j);
                end loop;
                t := format('(%s.size() <= %s || (%s && %s))', cur, j, array_to_string(branch, ' && '), t);
            end loop;
            alts := alts || t;
        elsif loc is null then
            return null;
        else
            u := u || jsonb_build_object('k', 'unique', 'n', 0, 'p', loc);
        end if;
    end if;
    if cardinality(alts) > 0 then
        parts := parts || @s@._jsv_guard(cur, 'array', typ, alts);
    end if;

    -- in-place applicators (conditional: their uniqueItems cannot be checked at a static location)
    if jsonb_typeof(sch -> 'allOf') = 'array' then
        for v in select value from jsonb_array_elements(sch -> 'allOf') loop
            r := @s@._jsv_pc(v, cur, loc);
            if r is null then return null; end if;
            u := u || (r -> 'u');
            parts := parts || (r ->> 'p');
        end loop;
    end if;
    if jsonb_typeof(sch -> 'anyOf') = 'array' then
        alts := '{}';
        for v in select value from jsonb_array_elements(sch -> 'anyOf') loop
            r := @s@._jsv_pc(v, cur, null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || (r ->> 'p');
        end loop;
        parts := parts || ('(' || array_to_string(alts, ' || ') || ')');
    end if;
    if jsonb_typeof(sch -> 'oneOf') = 'array' then
        n := jsonb_array_length(sch -> 'oneOf');
        if n > 5 then return null; end if;
        alts := '{}';
        for v in select value from jsonb_array_elements(sch -> 'oneOf') loop
            r := @s@._jsv_pc(v, cur, null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            alts := alts || (r ->> 'p');
        end loop;
        branch := '{}';
        for i in 1 .. n loop
            keys := '{}';
            for j in 1 .. n loop
                keys := keys || case when i = j then alts[j] else '!(' || alts[j] || ')' end;
            end loop;
            branch := branch || ('(' || array_to_string(keys, ' && ') || ')');
        end loop;
        parts := parts || ('(' || array_to_string(branch, ' || ') || ')');
    end if;
    if sch ? 'not' then
        r := @s@._jsv_pc(sch -> 'not', cur, null);
        if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
        parts := parts || ('!(' || (r ->> 'p') || ')');
    end if;
    if sch ? 'if' then
        r := @s@._jsv_pc(sch -> 'if', cur, null);
        if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
        x := r ->> 'p';
        if sch ? 'then' then
            r := @s@._jsv_pc(sch -> 'then', cur, null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            parts := parts || format('(!(%s) || %s)', x, r ->> 'p');
        end if;
        if sch ? 'else' then
            r := @s@._jsv_pc(sch -> 'else', cur, null);
            if r is null or jsonb_array_length(r -> 'u') > 0 then return null; end if;
            parts := parts || format('((%s) || %s)', x, r ->> 'p');
        end if;
    end if;

    return jsonb_build_object('p', case when cardinality(parts) = 0 then '(1 == 1)' else '(' || array_to_string(parts, ' && ') || ')' end, 'u', u);
end
$fn$
---
-- The compiled predicate of a schema, or null when it needs the interpreter. Never raises.
create function @s@._jsv_path(schema jsonb) returns jsonpath
language plpgsql immutable strict parallel safe as $fn$
declare
    r jsonb;
begin
    r := @s@._jsv_pc(schema, '$', '[]');
    if r is null then
        return null;
    end if;
    return ('lax ' || (r ->> 'p'))::jsonpath;
exception when others then
    return null;
end
$fn$
---
-- The residual checks of a compiled schema as "kind<RS>bound<RS>key<US>key...<RS>name<US>name..." strings
-- (null when there are none); RS = chr(30), US = chr(31).
create function @s@._jsv_residual(schema jsonb) returns text[]
language plpgsql immutable strict parallel safe as $fn$
declare
    r jsonb;
begin
    r := @s@._jsv_pc(schema, '$', '[]');
    if r is null or jsonb_array_length(r -> 'u') = 0 then
        return null;
    end if;
    return array(
        select concat_ws(chr(30), c ->> 'k', c ->> 'n',
                   coalesce((select string_agg(value #>> '{}', chr(31)) from jsonb_array_elements(c -> 'p')), ''),
                   coalesce((select string_agg(value #>> '{}', chr(31)) from jsonb_array_elements(c -> 'names')), ''))
        from jsonb_array_elements(r -> 'u') as c);
exception when others then
    return null;
end
$fn$
---
create function @s@._jsv_residual_ok(instance jsonb, checks text[]) returns boolean
language plpgsql immutable strict parallel safe as $fn$
declare
    c text;
    f text[];
    v jsonb;
begin
    foreach c in array checks loop
        f := string_to_array(c, chr(30));
        v := case when f[3] = '' then instance else instance #> string_to_array(f[3], chr(31)) end;
        if v is null then
            continue;
        elsif f[1] = 'max' then
            if jsonb_typeof(v) = 'string' and length(v #>> '{}') > f[2]::numeric then return false; end if;
        elsif f[1] = 'min' then
            if jsonb_typeof(v) = 'string' and length(v #>> '{}') < f[2]::numeric then return false; end if;
        elsif f[1] = 'only' then
            if jsonb_typeof(v) = 'object' and (v - string_to_array(f[4], chr(31))) <> '{}'::jsonb then return false; end if;
        elsif f[1] = 'unique' then
            if jsonb_typeof(v) = 'array' and jsonb_array_length(v) > 1
               and (select count(distinct e) from jsonb_array_elements(v) e) <> jsonb_array_length(v) then
                return false;
            end if;
        end if;
    end loop;
    return true;
end
$fn$
---
-- The validator with a compiled predicate: C-speed jsonpath when the schema compiles, the interpreter otherwise
-- (and whenever the predicate cannot decide).
create function @s@._jsv_check(path jsonpath, residual text[], schema jsonb, instance jsonb, resources jsonb) returns boolean
language sql immutable parallel safe as $fn$
    select case
        when schema is null or instance is null then null
        when path is null then (@s@._jsv_run(schema, instance, resources, false) ->> 'ok')::boolean
        else coalesce(
            jsonb_path_match(instance, path, '{}', true) and (residual is null or @s@._jsv_residual_ok(instance, residual)),
            (@s@._jsv_run(schema, instance, resources, false) ->> 'ok')::boolean)
    end
$fn$
---
-- Not declared strict so that PostgreSQL can inline it: with a constant schema the compilation is folded
-- once per query and each row costs one jsonpath evaluation. A null argument still gives null.
create function @s@.jsonb_matches_schema(schema jsonb, instance jsonb) returns boolean
language sql immutable parallel safe as $fn$
    select @s@._jsv_check(@s@._jsv_path(schema), @s@._jsv_residual(schema), schema, instance, '{}')
$fn$
---
-- With resources: a map from absolute URI to schema document that remote $refs resolve against.
create function @s@.jsonb_matches_schema(schema jsonb, instance jsonb, resources jsonb) returns boolean
language sql immutable parallel safe as $fn$
    select @s@._jsv_check(@s@._jsv_path(schema), @s@._jsv_residual(schema), schema, instance, coalesce(resources, '{}'))
$fn$
---
create function @s@.jsonb_schema_errors(schema jsonb, instance jsonb)
returns table (path text, keyword text, message text)
language sql immutable strict parallel safe as $fn$
    select e ->> 'path', e ->> 'keyword', e ->> 'message'
    from jsonb_array_elements(@s@._jsv_run(schema, instance, '{}', true) -> 'e') as e
$fn$
---
-- Each definition's schema, compiled once when the definition is written.
alter table @s@.form_definitions
    add column schema_path jsonpath generated always as (@s@._jsv_path(definition -> 'schema')) stored,
    add column schema_residual text[] generated always as (@s@._jsv_residual(definition -> 'schema')) stored
---
-- The last line of defence: a submission whose data does not match its definition's schema is refused,
-- however it was written. SQLSTATE 23514 with constraint form_submissions_data_schema; the detail is a JSON
-- array of the first errors: [{"path": JSON pointer, "keyword": ..., "message": ...}].
create function @s@.form_submissions_validate() returns trigger
language plpgsql as $fn$
declare
    d record;
    errors jsonb;
begin
    if jsonb_typeof(new.data) is distinct from 'object' then
        return new; -- the table's own check (form_submissions_data_check) names this
    end if;
    select f.definition -> 'schema' as schema, f.schema_path, f.schema_residual, f.name, f.version
    into d
    from @s@.form_definitions f
    where f.id = new.form_definition_id and f.version = new.form_version;
    if not found or @s@._jsv_check(d.schema_path, d.schema_residual, d.schema, new.data, '{}') then
        return new; -- a missing definition is the foreign key's to report
    end if;
    select coalesce(jsonb_agg(jsonb_build_object('path', e.path, 'keyword', e.keyword, 'message', e.message)), '[]')
    into errors
    from (select * from @s@.jsonb_schema_errors(d.schema, new.data) limit 20) e;
    raise exception 'submission data does not match the schema of form %/%: % %', d.name, d.version,
            coalesce(nullif(errors -> 0 ->> 'path', ''), '/'), coalesce(errors -> 0 ->> 'message', '')
        using errcode = 'check_violation', constraint = 'form_submissions_data_schema',
              table = tg_table_name, schema = tg_table_schema, detail = errors::text;
end
$fn$
---
create trigger form_submissions_validate
    before insert or update of data, form_definition_id, form_version on @s@.form_submissions
    for each row execute function @s@.form_submissions_validate()
