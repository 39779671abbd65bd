using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>Versioned form definitions with their lifecycle and immutability rules.</summary>
[Migration(202611250900, "form_definitions: versioned definitions, one active version per name, immutable once published")]
internal sealed class M202611250900FormDefinitions(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $$"""
        create function {{s}}.set_updated_at() returns trigger
        language plpgsql as $fn$
        begin
            new.updated_at := now();
            return new;
        end
        $fn$
        """,
        $$"""
        create table {{s}}.form_definitions (
            id uuid not null default gen_random_uuid(),
            name varchar(100) not null,
            version integer not null,
            definition jsonb not null,
            status varchar(20) not null default 'draft',
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            constraint form_definitions_pkey primary key (id),
            constraint form_definitions_name_version_key unique (name, version),
            constraint form_definitions_id_version_key unique (id, version),
            constraint form_definitions_status_check check (status in ('draft', 'active', 'archived')),
            constraint form_definitions_name_check check (name ~ '^[^[:space:]](.*[^[:space:]])?$'),
            constraint form_definitions_version_check check (version >= 1),
            constraint form_definitions_definition_check check (
                jsonb_typeof(definition) = 'object'
                and coalesce(jsonb_typeof(definition -> 'schema') in ('object', 'boolean'), false))
        )
        """,
        $$"""
        create unique index form_definitions_one_active_per_name
            on {{s}}.form_definitions (name) where status = 'active'
        """,
        $$"""
        create index form_definitions_status_name_idx
            on {{s}}.form_definitions (status, name, version)
        """,
        $$"""
        create function {{s}}.form_definitions_guard() returns trigger
        language plpgsql as $fn$
        begin
            if tg_op = 'DELETE' then
                if old.status <> 'draft' then
                    raise exception 'form definition %/% is % and cannot be deleted', old.name, old.version, old.status
                        using errcode = 'restrict_violation', constraint = 'form_definitions_immutable',
                              table = tg_table_name, schema = tg_table_schema;
                end if;
                return old;
            end if;

            if new.id <> old.id or new.name <> old.name or new.version <> old.version or new.created_at <> old.created_at then
                raise exception 'the id, name, version and created_at of form definition %/% cannot change', old.name, old.version
                    using errcode = 'restrict_violation', constraint = 'form_definitions_identity_immutable',
                          table = tg_table_name, schema = tg_table_schema;
            end if;

            if old.status <> 'draft' and new.definition is distinct from old.definition then
                raise exception 'form definition %/% is % and its definition cannot change; create a new version', old.name, old.version, old.status
                    using errcode = 'restrict_violation', constraint = 'form_definitions_immutable',
                          table = tg_table_name, schema = tg_table_schema;
            end if;

            if (old.status = 'active' and new.status not in ('active', 'archived'))
               or (old.status = 'archived' and new.status <> 'archived') then
                raise exception 'form definition %/% cannot move from % to %', old.name, old.version, old.status, new.status
                    using errcode = 'restrict_violation', constraint = 'form_definitions_status_transition',
                          table = tg_table_name, schema = tg_table_schema;
            end if;

            return new;
        end
        $fn$
        """,
        $$"""
        create trigger form_definitions_guard
            before update or delete on {{s}}.form_definitions
            for each row execute function {{s}}.form_definitions_guard()
        """,
        $$"""
        create trigger form_definitions_set_updated_at
            before update on {{s}}.form_definitions
            for each row execute function {{s}}.set_updated_at()
        """,
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop table {s}.form_definitions",
        $"drop function {s}.form_definitions_guard()",
        $"drop function {s}.set_updated_at()",
    ];
}
