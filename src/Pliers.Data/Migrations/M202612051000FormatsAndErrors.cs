using FluentMigrator;
using Pliers.Data.Validation;

namespace Pliers.Data.Migrations;

/// <summary>
/// One verdict and one error shape in both validation layers (issue 12). Formats: date, time, date-time, duration,
/// email, hostname, ipv4, ipv6, uri, uri-reference, uuid and json-pointer are asserted from the same regular
/// expressions as in the application (<c>formats.sql</c>, generated from <see cref="Formats"/>) and the same extra
/// checks (<c>formats-check.sql</c>: leap seconds, host-name length, Punycode and IDNA2008); the compiler turns them
/// into <c>like_regex</c>. Errors: every error carries a machine-readable detail and a message made from it
/// (<c>validation-detail.sql</c>); <c>jsonb_schema_errors</c> gains a <c>detail</c> column; the triggers report
/// every error in DETAIL and HINT. Every stored definition is compiled again.
/// </summary>
[Migration(202612051000, "validation: formats asserted in the database as in the application; errors with a machine-readable detail")]
internal sealed class M202612051000FormatsAndErrors(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Tables = new(() => SqlScript.Load("Pliers.Data.Validation.formats.sql"));
    private static readonly Lazy<string[]> Checks = new(() => SqlScript.Load("Pliers.Data.Validation.formats-check.sql"));
    private static readonly Lazy<string[]> Detail = new(() => SqlScript.Load("Pliers.Data.Validation.validation-detail.sql"));

    /// <summary>The functions <c>validation-detail.sql</c> adds (it also replaces some that exist).</summary>
    private static readonly string[] DetailFunctions = ["_jsv_message(text, jsonb)", "_jsv_error(text, text, jsonb)", "_jsv_error_list(jsonb, jsonb)", "_jsv_refuse(text, integer, jsonb, jsonb, text, text)"];

    private static readonly string AssertedList = string.Join(", ", Formats.Asserted.Select(f => $"'{f}'"));

    /// <summary>The compiler's pattern, after which its format goes.</summary>
    private const string AfterCompiledPattern =
        "        alts := alts || format('%s like_regex %s flag \"s\"', cur, @s@._jsv_q(@s@._jsv_regex(sch ->> 'pattern')));\n"
        + "    end if;\n";

    private static readonly string CompiledFormat =
        $"    if jsonb_typeof(sch -> 'format') = 'string' and sch ->> 'format' in ({AssertedList}) then\n"
        + "        t := @s@._jsv_format_path(sch ->> 'format', cur, loc is not null);\n"
        + "        if t is null then return null; end if;\n"
        + "        alts := alts || t;\n"
        + "    end if;\n";

    public override IReadOnlyList<string> UpStatements(string s) =>
    [
        .. Tables.Value.Concat(Checks.Value).Concat(Detail.Value).Select(statement => statement.Replace("@s@", s, StringComparison.Ordinal)),
        M202612041000PatternDialect.Replace(Splice(M202612041000PatternDialect.Compiler(), AfterCompiledPattern, CompiledFormat), s),
        .. M202612041000PatternDialect.Recompile(s),
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        M202612041000PatternDialect.Replace(M202612041000PatternDialect.Compiler(), s),
        M202612041000PatternDialect.Replace(M202611251000Validation.CreateFunction("_jsv_eval"), s),
        M202612041000PatternDialect.Replace(M202611251000Validation.CreateFunction("form_submissions_validate"), s),
        M202612041000PatternDialect.Replace(M202612041100ValidationShapes.CreateFunction("form_submissions_validate_inserted"), s),
        $"drop function {s}.jsonb_schema_errors(jsonb, jsonb)",
        M202611251000Validation.CreateFunction("jsonb_schema_errors").Replace("@s@", s, StringComparison.Ordinal),
        .. M202612041000PatternDialect.Recompile(s),
        .. DetailFunctions.Reverse().Select(f => $"drop function {s}.{f}"),
        .. M202612041000PatternDialect.Created(Tables.Value).Concat(M202612041000PatternDialect.Created(Checks.Value)).Reverse().Select(f => $"drop function {s}.{f}"),
    ];

    private static string Splice(string function, string after, string insertion)
    {
        var at = function.IndexOf(after, StringComparison.Ordinal);
        if (at < 0 || function.IndexOf(after, at + 1, StringComparison.Ordinal) >= 0)
        {
            throw new InvalidOperationException($"The function no longer contains exactly one {after.Trim()}.");
        }

        return function.Insert(at + after.Length, insertion);
    }
}
