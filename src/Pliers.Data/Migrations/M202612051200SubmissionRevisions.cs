using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Submission revisions (issue 14): the submission row holds the current revision (its number, when and by which
/// correlation it was made); every data change moves the replaced revision into <c>form_submission_revisions</c>,
/// immutable, in the same statement. Existing submissions are at revision 1; nothing is copied.
/// </summary>
[Migration(202612051200, "submission revisions: the current one in the row, the replaced ones in form_submission_revisions")]
internal sealed class M202612051200SubmissionRevisions(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $$"""
        alter table {{s}}.form_submissions
            add column revision integer not null default 1,
            add column revised_at timestamptz,
            add column revision_correlation_id uuid,
            add column revision_causation_id uuid,
            add constraint form_submissions_revision_check check (revision >= 1)
        """,
        $$"""
        create table {{s}}.form_submission_revisions (
            submission_id uuid not null,
            revision integer not null,
            data jsonb not null,
            created_at timestamptz not null,
            correlation_id uuid,
            causation_id uuid,
            constraint form_submission_revisions_pkey primary key (submission_id, revision),
            constraint form_submission_revisions_submission_fkey foreign key (submission_id) references {{s}}.form_submissions (id) on delete cascade,
            constraint form_submission_revisions_revision_check check (revision >= 1)
        )
        """,
        $$"""
        create function {{s}}.form_submission_revisions_refuse_update() returns trigger
        language plpgsql as $fn$
        begin
            raise exception 'submission revisions are immutable: % is not allowed on %.%', tg_op, tg_table_schema, tg_table_name
                using errcode = 'restrict_violation', constraint = 'form_submission_revisions_immutable',
                      table = tg_table_name, schema = tg_table_schema;
        end
        $fn$
        """,
        $$"""
        create trigger form_submission_revisions_immutable
            before update on {{s}}.form_submission_revisions
            for each row execute function {{s}}.form_submission_revisions_refuse_update()
        """,
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop table {s}.form_submission_revisions",
        $"drop function {s}.form_submission_revisions_refuse_update()",
        $"""
        alter table {s}.form_submissions
            drop constraint form_submissions_revision_check,
            drop column revision_causation_id,
            drop column revision_correlation_id,
            drop column revised_at,
            drop column revision
        """,
    ];
}
