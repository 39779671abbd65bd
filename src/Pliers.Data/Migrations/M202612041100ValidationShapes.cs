using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Validation fast in every query shape (issue 12): <c>jsonb_matches_definition(definition, instance)</c> uses a
/// stored definition's compiled columns; inserts are validated once per statement over a transition table (updates
/// of the data keep the row trigger); the compile functions declare their real cost so that prepared statements keep
/// custom plans.
/// </summary>
[Migration(202612041100, "validation: jsonb_matches_definition, set-based validation of inserted submissions, compile costs declared")]
internal sealed class M202612041100ValidationShapes(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Script = new(() => SqlScript.Load("Pliers.Data.Validation.validation-shapes.sql"));

    /// <summary>The statement of this script that creates function <paramref name="name"/> (a later migration replaces it).</summary>
    internal static string CreateFunction(string name) =>
        Script.Value.Single(statement => statement.StartsWith($"create function @s@.{name}(", StringComparison.Ordinal));

    public override IReadOnlyList<string> UpStatements(string s) =>
        Script.Value.Select(statement => statement.Replace("@s@", s, StringComparison.Ordinal)).ToArray();

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"alter function {s}._jsv_residual(jsonb) cost 100",
        $"alter function {s}._jsv_path(jsonb) cost 100",
        $"drop trigger form_submissions_validate on {s}.form_submissions",
        $"""
        create trigger form_submissions_validate
            before insert or update of data, form_definition_id, form_version on {s}.form_submissions
            for each row execute function {s}.form_submissions_validate()
        """,
        $"drop trigger form_submissions_validate_insert on {s}.form_submissions",
        $"drop function {s}.form_submissions_validate_inserted()",
        $"drop function {s}.jsonb_matches_definition({s}.form_definitions, jsonb)",
    ];
}
