using FluentMigrator;
using Pliers.Data.Validation;

namespace Pliers.Data.Migrations;

/// <summary>
/// Formats asserted in the database as in the application (issue 12): date, time, date-time, duration, email,
/// hostname, ipv4, ipv6, uri, uri-reference, uuid and json-pointer, from the same regular expressions
/// (<c>formats.sql</c>, generated from <see cref="Formats"/>) and the same extra checks (<c>formats-check.sql</c>:
/// leap seconds, host-name length, Punycode and IDNA2008). The interpreter checks <c>format</c>; the compiler turns
/// it into <c>like_regex</c>. Every stored definition is compiled again.
/// </summary>
[Migration(202612051000, "validation: formats asserted in the database as in the application")]
internal sealed class M202612051000Formats(string schema) : PliersMigration(schema)
{
    private static readonly Lazy<string[]> Tables = new(() => SqlScript.Load("Pliers.Data.Validation.formats.sql"));
    private static readonly Lazy<string[]> Checks = new(() => SqlScript.Load("Pliers.Data.Validation.formats-check.sql"));

    private static readonly string AssertedList = string.Join(", ", Formats.Asserted.Select(f => $"'{f}'"));

    /// <summary>The interpreter's pattern check, after which its format check goes.</summary>
    private const string AfterPattern =
        "            ok := false; errs := errs || (@s@._jsv_fail(path, 'pattern', format('does not match the pattern %s', sch ->> 'pattern')) -> 'e');\n"
        + "            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;\n"
        + "        end if;\n";

    private static readonly string FormatCheck =
        $"        if jsonb_typeof(sch -> 'format') = 'string' and sch ->> 'format' in ({AssertedList}) and not @s@._jsv_format(sch ->> 'format', t) then\n"
        + "            ok := false; errs := errs || (@s@._jsv_fail(path, 'format', format('is not a valid %s', sch ->> 'format')) -> 'e');\n"
        + "            if not collect then return jsonb_build_object('ok', false, 'e', errs); end if;\n"
        + "        end if;\n";

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
        .. Tables.Value.Concat(Checks.Value).Select(statement => statement.Replace("@s@", s, StringComparison.Ordinal)),
        M202612041000PatternDialect.Replace(Splice(M202611251000Validation.CreateFunction("_jsv_eval"), AfterPattern, FormatCheck), s),
        M202612041000PatternDialect.Replace(Splice(M202612041000PatternDialect.Compiler(), AfterCompiledPattern, CompiledFormat), s),
        .. M202612041000PatternDialect.Recompile(s),
    ];

    public override IReadOnlyList<string> DownStatements(string s) =>
    [
        M202612041000PatternDialect.Replace(M202612041000PatternDialect.Compiler(), s),
        M202612041000PatternDialect.Replace(M202611251000Validation.CreateFunction("_jsv_eval"), s),
        .. M202612041000PatternDialect.Recompile(s),
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
