using System.Globalization;
using System.Text;

namespace Pliers.Data.Validation;

/// <summary>
/// A-labels of host names: Punycode (RFC 3492) decoded and the U-label checked against IDNA2008 (RFC 5891 §5.4 and
/// RFC 5892). The database's <c>_jsv_idna_label</c> (formats-check.sql) follows the same steps. The derived
/// property PVALID is approximated as in RFC 5892 §2 without its Unicode-version tables: a lower-case, modifier or
/// other letter, a mark or a decimal digit that NFKC leaves as it is, or the hyphen; the exceptions (§2.6) and
/// the CONTEXTJ/CONTEXTO rules (appendix A) are exact.
/// </summary>
internal static class Idna
{
    /// <summary>The tables of <see cref="IdnaTables"/> by the name the database uses.</summary>
    internal static readonly (string Name, (int From, int To)[] Ranges)[] Tables =
    [
        ("virama", IdnaTables.Virama), ("joining_l", IdnaTables.JoiningL), ("joining_d", IdnaTables.JoiningD),
        ("joining_r", IdnaTables.JoiningR), ("joining_t", IdnaTables.JoiningT), ("greek", IdnaTables.Greek),
        ("hebrew", IdnaTables.Hebrew), ("hiragana", IdnaTables.Hiragana), ("katakana", IdnaTables.Katakana), ("han", IdnaTables.Han),
    ];

    /// <summary>Whether <paramref name="label"/> (starting with <c>xn--</c> in any case) is a valid A-label.</summary>
    public static bool IsValidALabel(string label)
    {
        var decoded = Punycode(label.AsSpan(4));
        return decoded is not null && IsValidULabel(decoded);
    }

    /// <summary>Decodes Punycode (RFC 3492 §6.2); null when the input is not valid Punycode.</summary>
    internal static List<int>? Punycode(ReadOnlySpan<char> input)
    {
        const int Base = 36, TMin = 1, TMax = 26, Skew = 38, Damp = 700;
        const long MaxInt = int.MaxValue;
        var output = new List<int>();
        var b = input.LastIndexOf('-');
        for (var j = 0; j < Math.Max(b, 0); j++)
        {
            if (input[j] >= 0x80)
            {
                return null;
            }

            output.Add(input[j]);
        }

        long n = 128, i = 0, bias = 72;
        for (var position = b > 0 ? b + 1 : 0; position < input.Length;)
        {
            var oldI = i;
            long w = 1;
            for (long k = Base; ; k += Base)
            {
                if (position >= input.Length)
                {
                    return null;
                }

                var c = input[position++];
                long digit = c switch
                {
                    >= 'a' and <= 'z' => c - 'a',
                    >= 'A' and <= 'Z' => c - 'A',
                    >= '0' and <= '9' => c - '0' + 26,
                    _ => -1,
                };
                if (digit < 0 || digit > (MaxInt - i) / w)
                {
                    return null;
                }

                i += digit * w;
                var t = k <= bias ? TMin : k >= bias + TMax ? TMax : k - bias;
                if (digit < t)
                {
                    break;
                }

                if (w > MaxInt / (Base - t))
                {
                    return null;
                }

                w *= Base - t;
            }

            var count = output.Count + 1;
            var delta = oldI == 0 ? (i - oldI) / Damp : (i - oldI) / 2;
            delta += delta / count;
            long shift = 0;
            while (delta > ((Base - TMin) * TMax) / 2)
            {
                delta /= Base - TMin;
                shift += Base;
            }

            bias = shift + (((Base - TMin + 1) * delta) / (delta + Skew));
            if (i / count > MaxInt - n)
            {
                return null;
            }

            n += i / count;
            i %= count;
            if (n > 0x10FFFF || n is >= 0xD800 and <= 0xDFFF)
            {
                return null;
            }

            output.Insert((int)i, (int)n);
            i++;
        }

        return output;
    }

    /// <summary>RFC 5891 §5.4 on a decoded label.</summary>
    internal static bool IsValidULabel(List<int> label)
    {
        if (label.Count == 0 || label.All(c => c < 0x80) || label[0] == '-' || label[^1] == '-'
            || (label.Count >= 4 && label[2] == '-' && label[3] == '-'))
        {
            return false;
        }

        var text = new StringBuilder();
        foreach (var c in label)
        {
            text.Append(char.ConvertFromUtf32(c));
        }

        if (!text.ToString().IsNormalized(NormalizationForm.FormC)
            || CharUnicodeInfo.GetUnicodeCategory(label[0]) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark)
        {
            return false;
        }

        for (var at = 0; at < label.Count; at++)
        {
            if (!Allowed(label, at))
            {
                return false;
            }
        }

        return true;
    }

    private static bool Allowed(List<int> label, int at)
    {
        var c = label[at];
        switch (c)
        {
            case 0xDF or 0x3C2 or 0x6FD or 0x6FE or 0xF0B or 0x3007 or '-':
                return true;
            case 0x640 or 0x7FA or 0x302E or 0x302F or (>= 0x3031 and <= 0x3035) or 0x303B:
                return false;
            case 0xB7: // MIDDLE DOT: between two 'l'
                return at > 0 && at < label.Count - 1 && label[at - 1] == 'l' && label[at + 1] == 'l';
            case 0x375: // GREEK KERAIA: followed by Greek
                return at < label.Count - 1 && In(IdnaTables.Greek, label[at + 1]);
            case 0x5F3 or 0x5F4: // HEBREW GERESH, GERSHAYIM: preceded by Hebrew
                return at > 0 && In(IdnaTables.Hebrew, label[at - 1]);
            case 0x30FB: // KATAKANA MIDDLE DOT: some Hiragana, Katakana or Han in the label
                return label.Any(x => In(IdnaTables.Hiragana, x) || In(IdnaTables.Katakana, x) || In(IdnaTables.Han, x));
            case >= 0x660 and <= 0x669:
                return !label.Any(x => x is >= 0x6F0 and <= 0x6F9);
            case >= 0x6F0 and <= 0x6F9:
                return !label.Any(x => x is >= 0x660 and <= 0x669);
            case 0x200D: // ZERO WIDTH JOINER: after a virama
                return at > 0 && In(IdnaTables.Virama, label[at - 1]);
            case 0x200C: // ZERO WIDTH NON-JOINER: after a virama, or between joining letters
                return (at > 0 && In(IdnaTables.Virama, label[at - 1])) || JoinsAround(label, at);
        }

        var category = CharUnicodeInfo.GetUnicodeCategory(c);
        if (category is not (UnicodeCategory.LowercaseLetter or UnicodeCategory.OtherLetter or UnicodeCategory.ModifierLetter
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.DecimalDigitNumber))
        {
            return false;
        }

        var text = char.ConvertFromUtf32(c);
        return text.Normalize(NormalizationForm.FormKC) == text;
    }

    /// <summary>(Joining_Type L or D)(T)* ZWNJ (T)*(Joining_Type R or D) around position <paramref name="at"/>.</summary>
    private static bool JoinsAround(List<int> label, int at)
    {
        var before = at - 1;
        while (before >= 0 && In(IdnaTables.JoiningT, label[before]))
        {
            before--;
        }

        var after = at + 1;
        while (after < label.Count && In(IdnaTables.JoiningT, label[after]))
        {
            after++;
        }

        return before >= 0 && (In(IdnaTables.JoiningL, label[before]) || In(IdnaTables.JoiningD, label[before]))
            && after < label.Count && (In(IdnaTables.JoiningR, label[after]) || In(IdnaTables.JoiningD, label[after]));
    }

    private static bool In((int From, int To)[] ranges, int c)
    {
        int lo = 0, hi = ranges.Length - 1;
        while (lo <= hi)
        {
            var mid = (lo + hi) / 2;
            if (c < ranges[mid].From)
            {
                hi = mid - 1;
            }
            else if (c > ranges[mid].To)
            {
                lo = mid + 1;
            }
            else
            {
                return true;
            }
        }

        return false;
    }
}
