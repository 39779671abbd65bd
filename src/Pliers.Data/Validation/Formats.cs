using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Pliers.Data.Validation;

/// <summary>
/// The <c>format</c> values both validation layers assert (issue 12); any other format stays an annotation.
/// Each is a regular expression over ASCII written in the subset that .NET and PostgreSQL's ARE read alike (no
/// <c>\d</c>, no look-around, no back-reference), shared with the database through the generated
/// <c>formats.sql</c>, plus what a regular expression cannot say and both layers compute the same way: a leap
/// second only at 23:59 UTC (RFC 3339 §5.6), at most 253 characters in a host name, and A-labels (<c>xn--</c>)
/// that decode (RFC 3492) to a valid IDNA2008 U-label (RFC 5891 §5.4, RFC 5892 with its context rules).
/// </summary>
internal static class Formats
{
    private const string Dec = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])";
    private const string Ipv4 = "(?:" + Dec + "[.]){3}" + Dec;
    private static readonly string Ipv6 = Expand(
        "(?:(?:H:){6}L|::(?:H:){5}L|(?:H)?::(?:H:){4}L|(?:(?:H:){0,1}H)?::(?:H:){3}L|(?:(?:H:){0,2}H)?::(?:H:){2}L"
        + "|(?:(?:H:){0,3}H)?::H:L|(?:(?:H:){0,4}H)?::L|(?:(?:H:){0,5}H)?::H|(?:(?:H:){0,6}H)?::)");

    private const string Date =
        "(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
        + "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)";

    private const string Offset = "(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
    private const string Time = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:[.][0-9]+)?" + Offset;
    private const string LeapTime = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:60(?:[.][0-9]+)?" + Offset;
    private const string LeapTimeUtc = "23:59:60(?:[.][0-9]+)?(?:[Zz]|[+-]00:00)";

    private const string DurationTime = "T(?:[0-9]+H(?:[0-9]+M(?:[0-9]+S)?)?|[0-9]+M(?:[0-9]+S)?|[0-9]+S)";
    private const string Duration = "P(?:(?:[0-9]+D|[0-9]+M(?:[0-9]+D)?|[0-9]+Y(?:[0-9]+M(?:[0-9]+D)?)?)(?:" + DurationTime + ")?|" + DurationTime + "|[0-9]+W)";

    private const string Label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
    private const string Hostname = Label + "(?:[.]" + Label + ")*";
    private const string Atom = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
    private static readonly string Email =
        "(?:" + Atom + "(?:[.]" + Atom + ")*" + "|\"(?:[ !#-Z^-~]|\\[|\\]|\\\\[ -~])*\")@(?:" + Hostname + "|\\[(?:" + Ipv4 + "|IPv6:" + Ipv6 + ")\\])";

    private const string Pct = "%[0-9A-Fa-f]{2}";
    private const string PChar = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|" + Pct + ")";
    private const string Scheme = "[A-Za-z][A-Za-z0-9+.-]*";
    private static readonly string Authority =
        "(?:(?:[A-Za-z0-9._~!$&'()*+,;=:-]|" + Pct + ")*@)?"
        + "(?:\\[(?:" + Ipv6 + "|[Vv][0-9A-Fa-f]+[.][A-Za-z0-9._~!$&'()*+,;=:-]+)\\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|" + Pct + ")*)"
        + "(?::[0-9]*)?";

    private const string PathAbEmpty = "(?:/" + PChar + "*)*";
    private const string PathAbsolute = "/(?:" + PChar + "+(?:/" + PChar + "*)*)?";
    private const string PathRootless = PChar + "+(?:/" + PChar + "*)*";
    private const string PathNoScheme = "(?:[A-Za-z0-9._~!$&'()*+,;=@-]|" + Pct + ")+(?:/" + PChar + "*)*";
    private const string QueryAndFragment = "(?:[?](?:" + PChar + "|[/?])*)?(?:#(?:" + PChar + "|[/?])*)?";
    private static readonly string Uri = Scheme + ":(?://" + Authority + PathAbEmpty + "|" + PathAbsolute + "|" + PathRootless + ")?" + QueryAndFragment;
    private static readonly string RelativeRef = "(?://" + Authority + PathAbEmpty + "|" + PathAbsolute + "|" + PathNoScheme + ")?" + QueryAndFragment;

    /// <summary>
    /// The regular expressions, unanchored, by name: one per asserted format, and the leap-second and A-label
    /// variants the checks beyond the expression start from. Anchored as <c>^(?:…)\z</c> in .NET and <c>^(?:…)$</c>
    /// in PostgreSQL (whose <c>$</c> matches only at the end).
    /// </summary>
    internal static readonly IReadOnlyList<(string Name, string Pattern)> Patterns =
    [
        ("date", Date),
        ("date-time", Date + "[Tt]" + Time),
        ("date-time-leap", Date + "[Tt]" + LeapTime),
        ("date-time-leap-utc", Date + "[Tt]" + LeapTimeUtc),
        ("duration", Duration),
        ("email", Email),
        ("hostname", Hostname),
        ("ipv4", Ipv4),
        ("ipv6", Ipv6),
        ("json-pointer", "(?:/(?:[^~/]|~[01])*)*"),
        ("time", Time),
        ("time-leap", LeapTime),
        ("time-leap-utc", LeapTimeUtc),
        ("uri", Uri),
        ("uri-reference", "(?:" + Uri + "|" + RelativeRef + ")"),
        ("uuid", "[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"),
        ("xn-label", "(?:^|[.@])[Xx][Nn]--"),
    ];

    /// <summary>The formats both layers assert.</summary>
    internal static readonly string[] Asserted =
        ["date", "date-time", "duration", "email", "hostname", "ipv4", "ipv6", "json-pointer", "time", "uri", "uri-reference", "uuid"];

    /// <summary>The longest host name (RFC 1035 §2.3.4 without the root's dot).</summary>
    internal const int MaxHostnameLength = 253;

    private static readonly Dictionary<string, Regex> Compiled = Patterns.ToDictionary(
        p => p.Name,
        p => new Regex(p.Name == "xn-label" ? p.Pattern : "^(?:" + p.Pattern + ")\\z", RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture, PliersKeywords.MatchTimeout),
        StringComparer.Ordinal);

    /// <summary>Whether <paramref name="format"/> is asserted (otherwise it is an annotation).</summary>
    public static bool IsAsserted(string format) => Asserted.Contains(format, StringComparer.Ordinal);

    /// <summary>Whether <paramref name="value"/> is a valid <paramref name="format"/>; true for formats that are not asserted.</summary>
    public static bool Check(string format, string value) => format switch
    {
        "time" => Compiled["time"].IsMatch(value) || (Compiled["time-leap"].IsMatch(value) && LeapSecondAtUtcMidnight(value)),
        "date-time" => Compiled["date-time"].IsMatch(value) || (Compiled["date-time-leap"].IsMatch(value) && LeapSecondAtUtcMidnight(value[11..])),
        "hostname" => Compiled["hostname"].IsMatch(value) && HostnameLabelsValid(value),
        "email" => Compiled["email"].IsMatch(value) && EmailDomainValid(value),
        _ when Compiled.TryGetValue(format, out var regex) && IsAsserted(format) => regex.IsMatch(value),
        _ => true,
    };

    /// <summary>A time of day with second 60 (already matched): valid only when it is 23:59 in UTC.</summary>
    private static bool LeapSecondAtUtcMidnight(string time)
    {
        var hour = int.Parse(time.AsSpan(0, 2), CultureInfo.InvariantCulture);
        var minute = int.Parse(time.AsSpan(3, 2), CultureInfo.InvariantCulture);
        var offset = 0;
        var sign = time.IndexOfAny(['+', '-'], 8);
        if (sign > 0)
        {
            offset = (int.Parse(time.AsSpan(sign + 1, 2), CultureInfo.InvariantCulture) * 60) + int.Parse(time.AsSpan(sign + 4, 2), CultureInfo.InvariantCulture);
            offset = time[sign] == '+' ? offset : -offset;
        }

        return ((((hour * 60) + minute - offset) % 1440) + 1440) % 1440 == 1439;
    }

    private static bool EmailDomainValid(string value)
    {
        var domain = value[(value.LastIndexOf('@') + 1)..];
        return domain.StartsWith('[') || HostnameLabelsValid(domain);
    }

    /// <summary>A host name that matched the expression: its length, and every A-label decoded and checked.</summary>
    private static bool HostnameLabelsValid(string hostname)
    {
        if (hostname.Length > MaxHostnameLength)
        {
            return false;
        }

        foreach (var label in hostname.Split('.'))
        {
            if (label.Length > 4 && label.StartsWith("xn--", StringComparison.OrdinalIgnoreCase) && !Idna.IsValidALabel(label))
            {
                return false;
            }
        }

        return true;
    }

    private static string Expand(string ipv6) => ipv6.Replace("H", "[0-9A-Fa-f]{1,4}", StringComparison.Ordinal).Replace("L", "(?:[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}|" + Ipv4 + ")", StringComparison.Ordinal);

    /// <summary>
    /// The database's copy of the expressions and the IDNA tables (<c>_jsv_format_re</c>, <c>_jsv_idna_table</c>) in
    /// the script format of the migrations; <c>formats.sql</c> is this text, and a test fails when they differ.
    /// </summary>
    internal static string Sql()
    {
        var text = new StringBuilder();
        text.Append("-- Generated by Formats.Sql() from Formats.cs and IdnaTables.cs; do not edit (a test regenerates and compares).\n");
        text.Append("create function @s@._jsv_format_re(name text) returns text\nlanguage sql immutable strict parallel safe as $fn$\n    select case name\n");
        foreach (var (name, pattern) in Patterns)
        {
            var anchored = name == "xn-label" ? pattern : "^(?:" + pattern + ")$";
            text.Append("        when '").Append(name).Append("' then '").Append(anchored.Replace("'", "''", StringComparison.Ordinal)).Append("'\n");
        }

        text.Append("    end\n$fn$\n---\n");
        UnicodeProperties.AppendRangeFunction(text, "_jsv_idna_table", Idna.Tables.Select(t => (t.Name, (IEnumerable<(int From, int To)>)t.Ranges)));
        return text.ToString();
    }
}
