using System.Globalization;
using System.Text;

namespace Pliers.Data.Validation;

/// <summary>
/// The Unicode property escapes a pattern may use (<c>\p{...}</c>): every General_Category value by its short
/// name, long name and aliases (also as <c>gc=</c> / <c>General_Category=</c>), and the binary properties
/// <c>Any</c>, <c>ASCII</c> and <c>Assigned</c>. The ranges come from .NET's Unicode character database
/// (<see cref="CharUnicodeInfo"/>); the database's copy (<c>unicode.sql</c>) is generated from the same tables by
/// <see cref="Sql"/>, and a test fails when the two differ (regenerate after a .NET upgrade).
/// </summary>
internal static class UnicodeProperties
{
    /// <summary>Short name, then long name and aliases, of every General_Category value ECMA-262 accepts.</summary>
    internal static readonly (string Short, string[] Names, UnicodeCategory[] Categories)[] GeneralCategories =
    [
        ("C", ["Other"], [UnicodeCategory.Control, UnicodeCategory.Format, UnicodeCategory.OtherNotAssigned, UnicodeCategory.PrivateUse, UnicodeCategory.Surrogate]),
        ("Cc", ["Control", "cntrl"], [UnicodeCategory.Control]),
        ("Cf", ["Format"], [UnicodeCategory.Format]),
        ("Cn", ["Unassigned"], [UnicodeCategory.OtherNotAssigned]),
        ("Co", ["Private_Use"], [UnicodeCategory.PrivateUse]),
        ("Cs", ["Surrogate"], [UnicodeCategory.Surrogate]),
        ("L", ["Letter"], [UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.TitlecaseLetter, UnicodeCategory.ModifierLetter, UnicodeCategory.OtherLetter]),
        ("LC", ["Cased_Letter"], [UnicodeCategory.UppercaseLetter, UnicodeCategory.LowercaseLetter, UnicodeCategory.TitlecaseLetter]),
        ("Ll", ["Lowercase_Letter"], [UnicodeCategory.LowercaseLetter]),
        ("Lm", ["Modifier_Letter"], [UnicodeCategory.ModifierLetter]),
        ("Lo", ["Other_Letter"], [UnicodeCategory.OtherLetter]),
        ("Lt", ["Titlecase_Letter"], [UnicodeCategory.TitlecaseLetter]),
        ("Lu", ["Uppercase_Letter"], [UnicodeCategory.UppercaseLetter]),
        ("M", ["Mark", "Combining_Mark"], [UnicodeCategory.NonSpacingMark, UnicodeCategory.SpacingCombiningMark, UnicodeCategory.EnclosingMark]),
        ("Mc", ["Spacing_Mark"], [UnicodeCategory.SpacingCombiningMark]),
        ("Me", ["Enclosing_Mark"], [UnicodeCategory.EnclosingMark]),
        ("Mn", ["Nonspacing_Mark"], [UnicodeCategory.NonSpacingMark]),
        ("N", ["Number"], [UnicodeCategory.DecimalDigitNumber, UnicodeCategory.LetterNumber, UnicodeCategory.OtherNumber]),
        ("Nd", ["Decimal_Number", "digit"], [UnicodeCategory.DecimalDigitNumber]),
        ("Nl", ["Letter_Number"], [UnicodeCategory.LetterNumber]),
        ("No", ["Other_Number"], [UnicodeCategory.OtherNumber]),
        ("P", ["Punctuation", "punct"], [UnicodeCategory.ConnectorPunctuation, UnicodeCategory.DashPunctuation, UnicodeCategory.OpenPunctuation, UnicodeCategory.ClosePunctuation, UnicodeCategory.InitialQuotePunctuation, UnicodeCategory.FinalQuotePunctuation, UnicodeCategory.OtherPunctuation]),
        ("Pc", ["Connector_Punctuation"], [UnicodeCategory.ConnectorPunctuation]),
        ("Pd", ["Dash_Punctuation"], [UnicodeCategory.DashPunctuation]),
        ("Pe", ["Close_Punctuation"], [UnicodeCategory.ClosePunctuation]),
        ("Pf", ["Final_Punctuation"], [UnicodeCategory.FinalQuotePunctuation]),
        ("Pi", ["Initial_Punctuation"], [UnicodeCategory.InitialQuotePunctuation]),
        ("Po", ["Other_Punctuation"], [UnicodeCategory.OtherPunctuation]),
        ("Ps", ["Open_Punctuation"], [UnicodeCategory.OpenPunctuation]),
        ("S", ["Symbol"], [UnicodeCategory.MathSymbol, UnicodeCategory.CurrencySymbol, UnicodeCategory.ModifierSymbol, UnicodeCategory.OtherSymbol]),
        ("Sc", ["Currency_Symbol"], [UnicodeCategory.CurrencySymbol]),
        ("Sk", ["Modifier_Symbol"], [UnicodeCategory.ModifierSymbol]),
        ("Sm", ["Math_Symbol"], [UnicodeCategory.MathSymbol]),
        ("So", ["Other_Symbol"], [UnicodeCategory.OtherSymbol]),
        ("Z", ["Separator"], [UnicodeCategory.SpaceSeparator, UnicodeCategory.LineSeparator, UnicodeCategory.ParagraphSeparator]),
        ("Zl", ["Line_Separator"], [UnicodeCategory.LineSeparator]),
        ("Zp", ["Paragraph_Separator"], [UnicodeCategory.ParagraphSeparator]),
        ("Zs", ["Space_Separator"], [UnicodeCategory.SpaceSeparator]),
    ];

    private static readonly Lazy<Dictionary<string, List<(int From, int To)>>> Tables = new(Build);

    private static readonly Lazy<Dictionary<string, string>> Canonical = new(() =>
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal) { ["Any"] = "Any", ["ASCII"] = "ASCII", ["Assigned"] = "Assigned" };
        foreach (var (shortName, aliases, _) in GeneralCategories)
        {
            foreach (var name in aliases.Prepend(shortName))
            {
                names[name] = shortName;
                names["gc=" + name] = shortName;
                names["General_Category=" + name] = shortName;
            }
        }

        return names;
    });

    /// <summary>Every spelling accepted inside <c>\p{...}</c>, with the canonical name it stands for.</summary>
    internal static IReadOnlyDictionary<string, string> Names => Canonical.Value;

    /// <summary>The code-point ranges (inclusive) of a property, or null when the name is not supported.</summary>
    public static List<(int From, int To)>? Ranges(string name) =>
        Canonical.Value.TryGetValue(name, out var canonical) ? Tables.Value[canonical] : null;

    private static Dictionary<string, List<(int From, int To)>> Build()
    {
        var byCategory = new Dictionary<UnicodeCategory, List<(int From, int To)>>();
        for (var c = 0; c <= 0x10FFFF; c++)
        {
            var category = CharUnicodeInfo.GetUnicodeCategory(c);
            if (!byCategory.TryGetValue(category, out var list))
            {
                byCategory[category] = list = [];
            }

            if (list.Count > 0 && list[^1].To == c - 1)
            {
                list[^1] = (list[^1].From, c);
            }
            else
            {
                list.Add((c, c));
            }
        }

        var tables = new Dictionary<string, List<(int From, int To)>>(StringComparer.Ordinal)
        {
            ["Any"] = [(0, 0x10FFFF)],
            ["ASCII"] = [(0, 0x7F)],
            ["Assigned"] = EcmaPattern.Complement(byCategory.GetValueOrDefault(UnicodeCategory.OtherNotAssigned) ?? []),
        };
        foreach (var (shortName, _, categories) in GeneralCategories)
        {
            tables[shortName] = EcmaPattern.Normalize(categories.SelectMany(c => byCategory.GetValueOrDefault(c) ?? []).ToList());
        }

        return tables;
    }

    /// <summary>
    /// The database's copy of these tables: <c>_jsv_uprop_name(text)</c> (any accepted spelling → canonical name)
    /// and <c>_jsv_uprop(text)</c> (canonical name → <c>int4multirange</c>), in the script format of the migrations.
    /// </summary>
    internal static string Sql()
    {
        var text = new StringBuilder();
        text.Append("-- Generated by UnicodeProperties.Sql() from .NET ").Append(Environment.Version.Major)
            .Append("'s Unicode tables; do not edit (a test regenerates and compares).\n");
        text.Append("create function @s@._jsv_uprop_name(name text) returns text\nlanguage sql immutable strict parallel safe as $fn$\n    select case name\n");
        foreach (var (spelling, canonical) in Canonical.Value.OrderBy(n => n.Key, StringComparer.Ordinal))
        {
            text.Append("        when '").Append(spelling).Append("' then '").Append(canonical).Append("'\n");
        }

        text.Append("    end\n$fn$\n---\n");
        AppendRangeFunction(text, "_jsv_uprop", Tables.Value.OrderBy(t => t.Key, StringComparer.Ordinal).Select(t => (t.Key, (IEnumerable<(int From, int To)>)t.Value)));
        return text.ToString();
    }

    /// <summary>
    /// Appends a generated <c>function(name text) returns int4multirange</c>: a <c>case</c> of the named code-point
    /// ranges (inclusive, written half-open), in the script format of the migrations.
    /// </summary>
    internal static void AppendRangeFunction(StringBuilder text, string function, IEnumerable<(string Name, IEnumerable<(int From, int To)> Ranges)> tables)
    {
        text.Append("create function @s@.").Append(function).Append("(name text) returns int4multirange\nlanguage sql immutable strict parallel safe as $fn$\n    select (case name\n");
        foreach (var (name, ranges) in tables)
        {
            text.Append("        when '").Append(name).Append("' then '{")
                .AppendJoin(',', ranges.Select(r => string.Create(CultureInfo.InvariantCulture, $"[{r.From},{r.To + 1})")))
                .Append("}'\n");
        }

        text.Append("    end)::int4multirange\n$fn$\n");
    }
}
