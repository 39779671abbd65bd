using FluentMigrator;

namespace Pliers.Data.Migrations;

/// <summary>
/// Patterns follow ECMA-262 with the <c>u</c> flag in the database as in the application (issue 12): property
/// tables generated from the Unicode database (<c>unicode.sql</c>), a translator that turns every class into explicit
/// code-point ranges (<c>pattern-dialect.sql</c>), and compiled schemas whose <c>like_regex</c> runs with flag
/// <c>s</c> (without it PostgreSQL stops <c>.</c> and negated classes at a newline; the translation already
/// excludes line terminators from <c>.</c>). Every stored definition is compiled again, both ways.
/// </summary>
[Migration(202612041000, "validation: ECMA-262 patterns with Unicode property tables; compiled patterns match newlines like ECMA-262")]
internal sealed class M202612041000PatternDialect(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Unicode = new(() => SqlScript.Load("Pliers.Data.Validation.unicode.sql"));
    private static readonly Lazy<string[]> Dialect = new(() => SqlScript.Load("Pliers.Data.Validation.pattern-dialect.sql"));

    /// <summary>The three <c>like_regex</c> of compiled patterns in <c>_jsv_pc</c>, before and after.</summary>
    private static readonly (string Old, string New)[] DotAll =
    [
        ("format('%s like_regex %s', cur, @s@._jsv_q(@s@._jsv_regex(sch ->> 'pattern')))", "format('%s like_regex %s flag \"s\"', cur, @s@._jsv_q(@s@._jsv_regex(sch ->> 'pattern')))"),
        ("(@.key like_regex %s && !(%s))", "(@.key like_regex %s flag \"s\" && !(%s))"),
        ("format('!(@.key like_regex %s)'", "format('!(@.key like_regex %s flag \"s\")'"),
    ];

    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        .. Unicode.Value.Concat(Dialect.Value).Select(statement => statement.Replace("@s@", s, StringComparison.Ordinal)),
        Replace(Compiler(), s),
        .. Recompile(s),
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        Replace(M202611251000Validation.CreateFunction("_jsv_pc"), s),
        Replace(M202611251000Validation.CreateFunction("_jsv_regex"), s),
        .. Recompile(s),
        .. Created(Dialect.Value).Concat(Created(Unicode.Value)).Where(f => !f.StartsWith("_jsv_regex(", StringComparison.Ordinal)).Reverse().Select(f => $"drop function {s}.{f}"),
    ];

    /// <summary><c>_jsv_pc</c> with flag <c>s</c> on compiled patterns.</summary>
    internal static string Compiler()
    {
        var text = M202611251000Validation.CreateFunction("_jsv_pc");
        foreach (var (old, replacement) in DotAll)
        {
            if (!text.Contains(old, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"_jsv_pc no longer contains {old}.");
            }

            text = text.Replace(old, replacement, StringComparison.Ordinal);
        }

        return text;
    }

    internal static string Replace(string createFunction, string s) =>
        "create or replace function" + createFunction["create function".Length..].Replace("@s@", s, StringComparison.Ordinal);

    /// <summary>Drops and adds the generated compiled-schema columns, so that every stored definition is compiled again.</summary>
    internal static IEnumerable<string> Recompile(string s) =>
    [
        $"alter table {s}.form_definitions drop column schema_path, drop column schema_residual",
        M202611251000Validation.AddCompiledColumns.Replace("@s@", s, StringComparison.Ordinal),
    ];

    /// <summary>The names and argument types of the functions a script creates (<c>name(type, type)</c>).</summary>
    internal static IEnumerable<string> Created(string[] script) => script
        .Select(statement => System.Text.RegularExpressions.Regex.Match(statement, @"^create (?:or replace )?function @s@\.(\w+)\(([^)]*)\)"))
        .Where(m => m.Success)
        .Select(m => $"{m.Groups[1].Value}({string.Join(", ", m.Groups[2].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Where(a => !a.Trim().StartsWith("out ", StringComparison.Ordinal)).Select(a => a.Trim().Split(' ')[^1]))})");
}
