using System.Reflection;
using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>JSON Schema validation functions in the database: the last line of defence for submission data.</summary>
[Migration(202611251000, "validation: jsonb_matches_schema, jsonb_schema_errors (JSON Schema 2020-12), compiled definition schemas, submission trigger")]
internal sealed class M202611251000Validation(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Script = new(() =>
    {
        using var stream = typeof(M202611251000Validation).Assembly.GetManifestResourceStream("Pliers.Data.Validation.jsonschema.sql")
            ?? throw new InvalidOperationException("The embedded validation script is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd()
            .Split("\n---\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(statement => string.Join('\n', statement.Split('\n').Where(line => !line.StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(statement => statement.Length > 0)
            .ToArray();
    });

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
