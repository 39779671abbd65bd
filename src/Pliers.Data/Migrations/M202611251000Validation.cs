using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>JSON Schema validation functions in the database: the last line of defence for submission data.</summary>
[Migration(202611251000, "validation: jsonb_matches_schema, jsonb_schema_errors (JSON Schema 2020-12), compiled definition schemas, submission trigger")]
internal sealed class M202611251000Validation(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Script = new(() => SqlScript.Load("Pliers.Data.Validation.jsonschema.sql"));

    /// <summary>The statement of this script that creates function <paramref name="name"/> (later migrations replace some).</summary>
    internal static string CreateFunction(string name) =>
        Script.Value.Single(statement => statement.StartsWith($"create function @s@.{name}(", StringComparison.Ordinal));

    /// <summary>The statement that adds the compiled-schema columns to form_definitions.</summary>
    internal static string AddCompiledColumns => Script.Value.Single(statement => statement.Contains("add column schema_path", StringComparison.Ordinal));

    /// <summary>Gets the names and argument lists of the functions the script creates, for <see cref="DownStatements"/>.</summary>
    internal static IEnumerable<string> Functions(string s) => Script.Value
        .Select(statement => System.Text.RegularExpressions.Regex.Match(statement, @"^create function @s@\.(\w+)\(([^)]*)\)"))
        .Where(m => m.Success)
        .Select(m => $"{s}.{m.Groups[1].Value}({string.Join(", ", m.Groups[2].Value.Split(',').Select(a => a.Trim().Split(' ').Last()))})");

    public override IReadOnlyList<string> UpStatements(string s) =>
        Script.Value.Select(statement => statement.Replace("@s@", s, StringComparison.Ordinal)).ToArray();

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        $"drop trigger form_submissions_validate on {s}.form_submissions",
        $"alter table {s}.form_definitions drop column schema_path, drop column schema_residual",
        .. Functions(s).Reverse().Select(f => $"drop function {f}"),
    ];
}
