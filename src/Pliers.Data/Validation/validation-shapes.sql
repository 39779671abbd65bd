-- Validation in every query shape (issue 12). Shipped by migration 202612041100; @s@ is the quoted schema.
--
-- A stored definition's compiled schema for any query: the "which stored submissions fail this schema?" shape
-- uses the columns compiled when the definition was written instead of compiling the schema again for every row.
-- The schema document is read only when the compiled predicate cannot decide (CASE/COALESCE are lazy), and it is
-- named once so that PostgreSQL inlines the function.
create function @s@.jsonb_matches_definition(definition @s@.form_definitions, instance jsonb) returns boolean
language sql stable parallel safe as $fn$
    select case when instance is null or definition is null then null else coalesce(
        case when definition.schema_path is not null then
            jsonb_path_match(instance, definition.schema_path, '{}', true)
            and (definition.schema_residual is null or @s@._jsv_residual_ok(instance, definition.schema_residual))
        end,
        (@s@._jsv_run(definition.definition -> 'schema', instance, '{}', false) ->> 'ok')::boolean) end
$fn$
---
-- Inserts are validated once per statement, set-based over the inserted rows (a transition table): the per-row
-- cost is the check itself (jsonb_matches_definition, inlined), without a PL/pgSQL call and a definition lookup per
-- row. The schema document is read only when the compiled columns cannot decide, or for the error list.
create function @s@.form_submissions_validate_inserted() returns trigger
language plpgsql as $fn$
declare
    bad record;
    errors jsonb;
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
    select coalesce(jsonb_agg(jsonb_build_object('path', e.path, 'keyword', e.keyword, 'message', e.message)), '[]')
    into errors
    from (select * from @s@.jsonb_schema_errors(bad.schema, bad.data) limit 20) e;
    raise exception 'submission data does not match the schema of form %/%: % %', bad.name, bad.version,
            coalesce(nullif(errors -> 0 ->> 'path', ''), '/'), coalesce(errors -> 0 ->> 'message', '')
        using errcode = 'check_violation', constraint = 'form_submissions_data_schema',
              table = tg_table_name, schema = tg_table_schema, detail = errors::text;
end
$fn$
---
create trigger form_submissions_validate_insert
    after insert on @s@.form_submissions
    referencing new table as inserted
    for each statement execute function @s@.form_submissions_validate_inserted()
---
-- Updates that change the data or the version keep the row trigger (a transition table cannot be limited to
-- those columns, and a status change must not pay for validation).
drop trigger form_submissions_validate on @s@.form_submissions
---
create trigger form_submissions_validate
    before update of data, form_definition_id, form_version on @s@.form_submissions
    for each row execute function @s@.form_submissions_validate()
---
-- Compiling a schema costs milliseconds: declared so, PostgreSQL keeps custom plans for statements that pass the
-- schema as a parameter (the compilation is then folded once per execution) instead of a generic plan that would
-- compile it for every row.
alter function @s@._jsv_path(jsonb) cost 100000
---
alter function @s@._jsv_residual(jsonb) cost 100000
