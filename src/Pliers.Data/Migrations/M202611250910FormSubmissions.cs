using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>Form submissions: JSONB data bound to one definition version, with generated columns for queries.</summary>
[Migration(202611250910, "form_submissions: JSONB data, composite definition reference, generated title and priority")]
internal sealed class M202611250910FormSubmissions(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        // title: only a JSON string counts, cut to 500 characters so a huge title can never exceed
        // the b-tree row limit. priority: only an integral JSON number inside the integer range;
        // anything else (a string, 1.5, 1e20) gives null instead of a cast error that would refuse the row.
        $$"""
        create table {{s}}.form_submissions (
            id uuid not null default gen_random_uuid(),
            form_definition_id uuid not null,
            form_version integer not null,
            data jsonb not null,
            status varchar(20) not null default 'draft',
            created_at timestamptz not null default now(),
            updated_at timestamptz not null default now(),
            title varchar(500) generated always as (
                case when jsonb_typeof(data -> 'title') = 'string' then left(data ->> 'title', 500) end) stored,
            priority integer generated always as (
                case when jsonb_typeof(data -> 'priority') = 'number' then
                    case when (data -> 'priority')::numeric between -2147483648 and 2147483647
                              and (data -> 'priority')::numeric = trunc((data -> 'priority')::numeric)
                         then (data -> 'priority')::numeric::integer
                    end
                end) stored,
            constraint form_submissions_pkey primary key (id),
            constraint form_submissions_form_definition_fkey foreign key (form_definition_id, form_version)
                references {{s}}.form_definitions (id, version) on update restrict on delete restrict,
            constraint form_submissions_status_check
                check (status in ('draft', 'submitted', 'approved', 'rejected', 'archived')),
            constraint form_submissions_data_check check (jsonb_typeof(data) = 'object')
        )
        """,
        $$"""
        create index form_submissions_form_status_created_idx
            on {{s}}.form_submissions (form_definition_id, status, created_at desc, id desc)
        """,
        $$"""
        create index form_submissions_form_created_idx
            on {{s}}.form_submissions (form_definition_id, form_version, created_at desc, id desc)
        """,
        $$"""
        create index form_submissions_created_idx
            on {{s}}.form_submissions (created_at desc, id desc)
        """,
        $$"""
        create index form_submissions_data_idx
            on {{s}}.form_submissions using gin (data jsonb_path_ops)
        """,
        $$"""
        create index form_submissions_priority_idx
            on {{s}}.form_submissions (form_definition_id, priority) where priority is not null
        """,
        $$"""
        create index form_submissions_title_idx
            on {{s}}.form_submissions (form_definition_id, title text_pattern_ops) where title is not null
        """,
        $$"""
        create trigger form_submissions_set_updated_at
            before update on {{s}}.form_submissions
            for each row execute function {{s}}.set_updated_at()
        """,
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop table {s}.form_submissions",
    ];
}
