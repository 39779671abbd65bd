using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Soft delete of submissions (issue 14): <c>deleted_at</c> hides a submission from every read; a partial index
/// holds only the deleted rows (restore and purge find them without touching the live ones).
/// </summary>
[Migration(202612051300, "soft delete: form_submissions.deleted_at and the partial index of deleted rows")]
internal sealed class M202612051300SoftDelete(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $"alter table {s}.form_submissions add column deleted_at timestamptz",
        $"create index form_submissions_deleted_idx on {s}.form_submissions (deleted_at, id) where deleted_at is not null",
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop index {s}.form_submissions_deleted_idx",
        $"alter table {s}.form_submissions drop column deleted_at",
    ];
}
