-- One error shape in both layers (issue 12). Shipped by migration 202612051000 after formats-check.sql; @s@ is
-- the quoted schema. Every error is {"path": JSON pointer, "keyword", "message", "detail"}: the detail is a JSON
-- object a program can read (the limit, the allowed values, the missing member, ...), and the message is made
-- from keyword and detail by _jsv_message, whose twin in the application is ValidationMessages.Render (a test
-- compares them on thousands of errors).
create function @s@._jsv_message(keyword text, d jsonb) returns text
language sql immutable strict parallel safe as $fn$
    select case keyword
        when 'false' then 'no value is allowed here'
        when 'type' then format('must be %s, not %s', (select string_agg(value #>> '{}', ' or ' order by o) from jsonb_array_elements(d -> 'expected') with ordinality as e(value, o)), d ->> 'found')
        when 'enum' then 'must be one of the allowed values'
        when 'const' then 'must be the allowed value'
        when 'minimum' then format('must be at least %s', d -> 'limit')
        when 'maximum' then format('must be at most %s', d -> 'limit')
        when 'exclusiveMinimum' then format('must be greater than %s', d -> 'limit')
        when 'exclusiveMaximum' then format('must be less than %s', d -> 'limit')
        when 'multipleOf' then format('must be a multiple of %s', d -> 'limit')
        when 'minLength' then format('must be at least %s characters long', d -> 'limit')
        when 'maxLength' then format('must be at most %s characters long', d -> 'limit')
        when 'pattern' then format('must match the pattern %s', d ->> 'pattern')
        when 'format' then format('must be a valid %s', d ->> 'format')
        when 'required' then format('"%s" is required', d ->> 'missing')
        when 'dependentRequired' then format('"%s" is required when "%s" is present', d ->> 'missing', d ->> 'when')
        when 'minProperties' then format('must have at least %s properties', d -> 'limit')
        when 'maxProperties' then format('must have at most %s properties', d -> 'limit')
        when 'additionalProperties' then format('"%s" is not allowed', d ->> 'property')
        when 'unevaluatedProperties' then format('"%s" is not allowed', d ->> 'property')
        when 'propertyNames' then format('property name "%s" is not allowed', d ->> 'property')
        when 'minItems' then format('must have at least %s items', d -> 'limit')
        when 'maxItems' then format('must have at most %s items', d -> 'limit')
        when 'uniqueItems' then format('must not contain duplicates (items %s and %s are equal)', d -> 'duplicates' -> 0, d -> 'duplicates' -> 1)
        when 'contains' then format('must contain at least %s matching item(s), found %s', d -> 'limit', d -> 'found')
        when 'minContains' then format('must contain at least %s matching item(s), found %s', d -> 'limit', d -> 'found')
        when 'maxContains' then format('must contain at most %s matching item(s), found %s', d -> 'limit', d -> 'found')
        when 'anyOf' then 'must match at least one of the schemas in "anyOf"'
        when 'oneOf' then format('must match exactly one of the schemas in "oneOf", matches %s', d -> 'matches')
        when 'not' then 'must not match the schema in "not"'
        when 'unevaluatedItems' then format('item %s is not allowed', d -> 'index')
        else keyword
    end
$fn$
---
create function @s@._jsv_error(path text, keyword text, detail jsonb) returns jsonb
language sql immutable strict parallel safe as $fn$
    select jsonb_build_object('ok', false, 'e', jsonb_build_array(jsonb_build_object(
        'path', path, 'keyword', keyword, 'message', @s@._jsv_message(keyword, detail), 'detail', detail)))
$fn$
---
-- The interpreter, with formats and the detail of every error.
create or replace function @s@._jsv_eval(sch jsonb, inst jsonb, st jsonb, reg jsonb, path text, collect boolean, depth int)
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
        return @s@._jsv_error(path, 'false', '{}');
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
            errs := errs || (@s@._jsv_error(path, 'type', jsonb_build_object('expected', case when jsonb_typeof(sch -> 'type') = 'array' then sch -> 'type' else jsonb_build_array(sch -> 'type') end, 'found', typ)) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if sch ? 'enum' then
        if not exists (select 1 from jsonb_array_elements(sch -> 'enum') e where e.value = inst) then
            ok := false;
            errs := errs || (@s@._jsv_error(path, 'enum', jsonb_build_object('allowed', sch -> 'enum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;
    if sch ? 'const' and (sch -> 'const') <> inst then
        ok := false;
        errs := errs || (@s@._jsv_error(path, 'const', jsonb_build_object('expected', sch -> 'const')) -> 'e');
        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
    end if;

    -- numbers
    if typ = 'number' then
        x := (inst::text)::numeric;
        if jsonb_typeof(sch -> 'minimum') = 'number' and x < (sch ->> 'minimum')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'minimum', jsonb_build_object('limit', sch -> 'minimum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maximum') = 'number' and x > (sch ->> 'maximum')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'maximum', jsonb_build_object('limit', sch -> 'maximum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'exclusiveMinimum') = 'number' and x <= (sch ->> 'exclusiveMinimum')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'exclusiveMinimum', jsonb_build_object('limit', sch -> 'exclusiveMinimum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'exclusiveMaximum') = 'number' and x >= (sch ->> 'exclusiveMaximum')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'exclusiveMaximum', jsonb_build_object('limit', sch -> 'exclusiveMaximum')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'multipleOf') = 'number' then
            lim := (sch ->> 'multipleOf')::numeric;
            if lim > 0 and x % lim <> 0 then
                ok := false; errs := errs || (@s@._jsv_error(path, 'multipleOf', jsonb_build_object('limit', sch -> 'multipleOf')) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
    end if;

    -- strings
    if typ = 'string' then
        t := inst #>> '{}';
        if jsonb_typeof(sch -> 'minLength') = 'number' and length(t) < (sch ->> 'minLength')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'minLength', jsonb_build_object('limit', sch -> 'minLength')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maxLength') = 'number' and length(t) > (sch ->> 'maxLength')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'maxLength', jsonb_build_object('limit', sch -> 'maxLength')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'pattern') = 'string' and not (t ~ @s@._jsv_regex(sch ->> 'pattern')) then
            ok := false; errs := errs || (@s@._jsv_error(path, 'pattern', jsonb_build_object('pattern', sch -> 'pattern')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'format') = 'string' and not @s@._jsv_format(sch ->> 'format', t) then
            ok := false; errs := errs || (@s@._jsv_error(path, 'format', jsonb_build_object('format', sch -> 'format')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
    end if;

    -- objects
    if typ = 'object' then
        if jsonb_typeof(sch -> 'required') = 'array' then
            for t in select value #>> '{}' from jsonb_array_elements(sch -> 'required') loop
                if not inst ? t then
                    ok := false; errs := errs || (@s@._jsv_error(@s@._jsv_ptr(path, t), 'required', jsonb_build_object('missing', t)) -> 'e');
                    if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                end if;
            end loop;
        end if;
        if jsonb_typeof(sch -> 'minProperties') = 'number' or jsonb_typeof(sch -> 'maxProperties') = 'number' then
            select count(*) into cnt from jsonb_object_keys(inst);
            if cnt < coalesce((sch ->> 'minProperties')::numeric, 0) then
                ok := false; errs := errs || (@s@._jsv_error(path, 'minProperties', jsonb_build_object('limit', sch -> 'minProperties')) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
            if jsonb_typeof(sch -> 'maxProperties') = 'number' and cnt > (sch ->> 'maxProperties')::numeric then
                ok := false; errs := errs || (@s@._jsv_error(path, 'maxProperties', jsonb_build_object('limit', sch -> 'maxProperties')) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
        end if;
        if jsonb_typeof(sch -> 'dependentRequired') = 'object' then
            for k, v in select * from jsonb_each(sch -> 'dependentRequired') loop
                if inst ? k then
                    for t in select value #>> '{}' from jsonb_array_elements(v) loop
                        if not inst ? t then
                            ok := false; errs := errs || (@s@._jsv_error(@s@._jsv_ptr(path, t), 'dependentRequired', jsonb_build_object('missing', t, 'when', k)) -> 'e');
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
                            then @s@._jsv_error(@s@._jsv_ptr(path, k), 'additionalProperties', jsonb_build_object('property', k)) -> 'e'
                            else r -> 'e' end;
                        if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
                    end if;
                end if;
                if sch ? 'propertyNames' then
                    r := @s@._jsv_eval(sch -> 'propertyNames', to_jsonb(k), st, reg, @s@._jsv_ptr(path, k), collect, depth + 1);
                    if not (r ->> 'ok')::boolean then
                        ok := false; errs := errs || (@s@._jsv_error(@s@._jsv_ptr(path, k), 'propertyNames', jsonb_build_object('property', k)) -> 'e');
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
            ok := false; errs := errs || (@s@._jsv_error(path, 'minItems', jsonb_build_object('limit', sch -> 'minItems')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if jsonb_typeof(sch -> 'maxItems') = 'number' and len > (sch ->> 'maxItems')::numeric then
            ok := false; errs := errs || (@s@._jsv_error(path, 'maxItems', jsonb_build_object('limit', sch -> 'maxItems')) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        end if;
        if sch -> 'uniqueItems' = 'true'::jsonb and len > 1 then
            -- the first pair in the order the application layer finds it: by the first index, then the second
            select jsonb_build_array(a.o - 1, b.o - 1) into tgt
            from jsonb_array_elements(inst) with ordinality a(v, o)
            join jsonb_array_elements(inst) with ordinality b(v, o) on a.o < b.o and a.v = b.v
            order by a.o, b.o limit 1;
            if found then
                ok := false; errs := errs || (@s@._jsv_error(path, 'uniqueItems', jsonb_build_object('duplicates', tgt)) -> 'e');
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
                ok := false; errs := errs || (@s@._jsv_error(path, case when sch ? 'minContains' then 'minContains' else 'contains' end,
                    jsonb_build_object('limit', coalesce(sch -> 'minContains', '1'), 'found', valid_count)) -> 'e');
                if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
            end if;
            if jsonb_typeof(sch -> 'maxContains') = 'number' and valid_count > (sch ->> 'maxContains')::numeric then
                ok := false; errs := errs || (@s@._jsv_error(path, 'maxContains', jsonb_build_object('limit', sch -> 'maxContains', 'found', valid_count)) -> 'e');
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
            ok := false; errs := errs || (@s@._jsv_error(path, 'anyOf', jsonb_build_object('matches', 0)) -> 'e');
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
            ok := false; errs := errs || (@s@._jsv_error(path, 'oneOf', jsonb_build_object('matches', valid_count)) -> 'e');
            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;
        else
            ep := ep || coalesce(tgt -> 'p', '{}'); ei := @s@._jsv_merge_items(ei, tgt -> 'i');
        end if;
    end if;
    if sch ? 'not' then
        r := @s@._jsv_eval(sch -> 'not', inst, st, reg, path, false, depth + 1);
        if (r ->> 'ok')::boolean then
            ok := false; errs := errs || (@s@._jsv_error(path, 'not', '{}') -> 'e');
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
                        then @s@._jsv_error(@s@._jsv_ptr(path, k), 'unevaluatedProperties', jsonb_build_object('property', k)) -> 'e'
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
                        then @s@._jsv_error(path || '/' || i, 'unevaluatedItems', jsonb_build_object('index', i)) -> 'e'
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
-- The errors a trigger reports: every error of the document, at most 1000.
create function @s@._jsv_error_list(schema jsonb, instance jsonb) returns jsonb
language sql immutable strict parallel safe as $fn$
    select coalesce(jsonb_agg(value order by n), '[]')
    from (select value, n from jsonb_array_elements(@s@._jsv_run(schema, instance, '{}', true) -> 'e') with ordinality as e(value, n)
          order by n limit 1000) as first_errors
$fn$
---
drop function @s@.jsonb_schema_errors(jsonb, jsonb)
---
create function @s@.jsonb_schema_errors(schema jsonb, instance jsonb)
returns table (path text, keyword text, message text, detail jsonb)
language sql immutable strict parallel safe as $fn$
    select e ->> 'path', e ->> 'keyword', e ->> 'message', e -> 'detail'
    from jsonb_array_elements(@s@._jsv_run(schema, instance, '{}', true) -> 'e') as e
$fn$
---
-- The refusal both submission triggers raise: SQLSTATE 23514, constraint form_submissions_data_schema, the form and
-- its first error in the message, every error (up to 1000) in DETAIL and HINT.
create function @s@._jsv_refuse(form_name text, form_version integer, schema jsonb, data jsonb, tbl text, sch text) returns void
language plpgsql as $fn$
declare
    errors jsonb := @s@._jsv_error_list(schema, data);
begin
    raise exception 'submission data does not match the schema of form %/%: % %', form_name, form_version,
            coalesce(nullif(errors -> 0 ->> 'path', ''), '/'), coalesce(errors -> 0 ->> 'message', '')
        using errcode = 'check_violation', constraint = 'form_submissions_data_schema',
              table = tbl, schema = sch, detail = errors::text, hint = errors::text;
end
$fn$
---
-- The submission triggers raise SQLSTATE 23514 with constraint form_submissions_data_schema and every error (up to
-- 1000) as a JSON array in DETAIL and again in HINT: Npgsql redacts DETAIL unless the connection string says
-- Include Error Detail, and never HINT, so the list reaches every caller.
create or replace function @s@.form_submissions_validate() returns trigger
language plpgsql as $fn$
declare
    d record;
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
    perform @s@._jsv_refuse(d.name, d.version, d.schema, new.data, tg_table_name, tg_table_schema);
    return null; -- not reached: _jsv_refuse raises
end
$fn$
---
create or replace function @s@.form_submissions_validate_inserted() returns trigger
language plpgsql as $fn$
declare
    bad record;
begin
    select i.data, f.definition -> 'schema' as schema, f.name, f.version
    into bad
    from inserted i
    join @s@.form_definitions f on f.id = i.form_definition_id and f.version = i.form_version
    where jsonb_typeof(i.data) = 'object' and not @s@.jsonb_matches_definition(f, i.data)
    limit 1;
    if not found then
        return null;
    end if;
    perform @s@._jsv_refuse(bad.name, bad.version, bad.schema, bad.data, tg_table_name, tg_table_schema);
    return null; -- not reached: _jsv_refuse raises
end
$fn$
