using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// The card's column types and the indexes the queries measure: <c>text</c> where the card's DDL says TEXT (status,
/// aggregate and event types, title) with CHECK constraints for the limits; the per-form index without
/// <c>form_version</c> (which no query filters on) so it serves "one form, newest first" in index order; and no
/// unique index on <c>events.position</c> (the identity already makes positions unique, and every read orders by
/// <c>(transaction_id, position)</c>, which has its own index).
/// Constraints and the partial index that mention a changed column are dropped and created again from their
/// original text, so that <c>Down()</c> restores the catalog exactly.
/// </summary>
[Migration(202611271100, "text columns with length checks; per-form created index without form_version; no unique index on events.position")]
internal sealed class M202611271100TextColumnsAndIndexes(string schema) : PliersMigration(schema)
{
    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        $"alter table {s}.form_definitions drop constraint form_definitions_status_check",
        $"drop index {s}.form_definitions_one_active_per_name",
        $"alter table {s}.form_definitions alter column status type text",
        $"alter table {s}.form_definitions add constraint form_definitions_status_check check (status in ('draft', 'active', 'archived'))",
        $"create unique index form_definitions_one_active_per_name on {s}.form_definitions (name) where status = 'active'",

        $"alter table {s}.form_submissions drop constraint form_submissions_status_check",
        $"alter table {s}.form_submissions alter column status type text, alter column title type text",
        $"alter table {s}.form_submissions add constraint form_submissions_status_check check (status in ('draft', 'submitted', 'approved', 'rejected', 'archived'))",
        $"drop index {s}.form_submissions_form_created_idx",
        $"create index form_submissions_form_created_idx on {s}.form_submissions (form_definition_id, created_at desc, id desc)",

        $"alter table {s}.events alter column aggregate_type type text, alter column event_type type text",
        $"alter table {s}.events add constraint events_aggregate_type_length check (char_length(aggregate_type) <= 100)",
        $"alter table {s}.events add constraint events_event_type_length check (char_length(event_type) <= 200)",
        $"alter table {s}.events drop constraint events_position_key",
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"alter table {s}.events add constraint events_position_key unique (position)",
        $"alter table {s}.events drop constraint events_event_type_length",
        $"alter table {s}.events drop constraint events_aggregate_type_length",
        $"alter table {s}.events alter column aggregate_type type varchar(100), alter column event_type type varchar(200)",

        $"drop index {s}.form_submissions_form_created_idx",
        $"create index form_submissions_form_created_idx on {s}.form_submissions (form_definition_id, form_version, created_at desc, id desc)",
        $"alter table {s}.form_submissions drop constraint form_submissions_status_check",
        $"alter table {s}.form_submissions alter column status type varchar(20), alter column title type varchar(500)",
        $"alter table {s}.form_submissions add constraint form_submissions_status_check check (status in ('draft', 'submitted', 'approved', 'rejected', 'archived'))",

        $"drop index {s}.form_definitions_one_active_per_name",
        $"alter table {s}.form_definitions drop constraint form_definitions_status_check",
        $"alter table {s}.form_definitions alter column status type varchar(20)",
        $"alter table {s}.form_definitions add constraint form_definitions_status_check check (status in ('draft', 'active', 'archived'))",
        $"create unique index form_definitions_one_active_per_name on {s}.form_definitions (name) where status = 'active'",
    ];
}
