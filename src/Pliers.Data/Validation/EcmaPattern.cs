using System.Globalization;
using System.Text;

namespace Pliers.Data.Validation;

/// <summary>
/// Translates a JSON Schema <c>pattern</c> (an ECMA-262 regular expression with the <c>u</c> flag: code points,
/// ASCII <c>\d</c>/<c>\w</c>/<c>\b</c>, <c>.</c> without line terminators, Unicode property escapes) into an
/// equivalent .NET pattern and an equivalent PostgreSQL ARE.
/// <para>
/// The database carries the same translator in PL/pgSQL (<c>_jsv_regex</c> in pattern-dialect.sql); both follow the
/// algorithm written here, and a test checks that they produce the same ARE for a corpus of patterns. Every
/// character class becomes an explicit set of code-point ranges (never a locale-dependent class), so both engines
/// see the same characters; the property tables come from <see cref="UnicodeProperties"/>.
/// </para>
/// </summary>
internal static partial class EcmaPattern
{
    /// <summary>The target dialect.</summary>
    internal enum Target
    {
        /// <summary>.NET <c>System.Text.RegularExpressions</c> over UTF-16 (surrogate pairs matched as one code point).</summary>
        DotNet,

        /// <summary>PostgreSQL advanced regular expressions over code points (UTF-8 database).</summary>
        Are,
    }

    private const int MaxCodePoint = 0x10FFFF;
    private const int AreMaxRepeat = 255;
    private const string SyntaxCharacters = "^$\\.*+?()[]{}|";

    private static readonly List<(int From, int To)> LineTerminators = [(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)];
    private static readonly List<(int From, int To)> Digits = [('0', '9')];
    private static readonly List<(int From, int To)> WordCharacters = [('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')];

    // ECMA-262 WhiteSpace and LineTerminator.
    private static readonly List<(int From, int To)> Spaces =
        [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)];

    /// <summary>Translates <paramref name="pattern"/>; throws <see cref="ArgumentException"/> naming the position when it is not a valid <c>u</c>-mode pattern.</summary>
    public static string Translate(string pattern, Target target)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var codePoints = new List<int>(pattern.Length);
        for (var i = 0; i < pattern.Length; i++)
        {
            if (char.IsHighSurrogate(pattern[i]) && i + 1 < pattern.Length && char.IsLowSurrogate(pattern[i + 1]))
            {
                codePoints.Add(char.ConvertToUtf32(pattern[i], pattern[i + 1]));
                i++;
            }
            else
            {
                codePoints.Add(pattern[i]);
            }
        }

        return new Translator(codePoints, target).Run();
    }

    private sealed class Translator(List<int> p, Target target)
    {
        private readonly StringBuilder _out = new();
        private readonly List<string> _groupNames = [];
        private int _i;
        private int _groups;

        private bool Are => target == Target.Are;

        public string Run()
        {
            // Named groups are numbered with the others (ECMA-262); count them first so that \k<name> can become \N.
            CountGroups();
            Disjunction();
            if (_i < p.Count)
            {
                throw Error(p[_i] == ')' ? "unmatched ')'" : $"unexpected '{Char(p[_i])}'");
            }

            return _out.ToString();
        }

        private void CountGroups()
        {
            var inClass = false;
            for (var i = 0; i < p.Count; i++)
            {
                var c = p[i];
                if (c == '\\')
                {
                    i++;
                }
                else if (inClass)
                {
                    inClass = c != ']';
                }
                else if (c == '[')
                {
                    inClass = true;
                }
                else if (c == '(')
                {
                    if (At(i + 1, '?') && At(i + 2, '<') && !At(i + 3, '=') && !At(i + 3, '!'))
                    {
                        var end = p.IndexOf('>', i + 3);
                        _groupNames.Add(end < 0 ? string.Empty : Text(i + 3, end));
                    }
                    else if (!At(i + 1, '?'))
                    {
                        _groupNames.Add(string.Empty);
                    }
                }
            }
        }

        private bool At(int index, char c) => index < p.Count && p[index] == c;

        private string Text(int from, int to)
        {
            var text = new StringBuilder();
            for (var i = from; i < to; i++)
            {
                text.Append(char.ConvertFromUtf32(p[i]));
            }

            return text.ToString();
        }

        private void Disjunction()
        {
            Alternative();
            while (At(_i, '|'))
            {
                _i++;
                _out.Append('|');
                Alternative();
            }
        }

        private void Alternative()
        {
            while (_i < p.Count && p[_i] != '|' && p[_i] != ')')
            {
                Term();
            }
        }

        private void Term()
        {
            var start = _out.Length;
            var c = p[_i];
            var quantifiable = true;
            switch (c)
            {
                case '^':
                    _i++;
                    _out.Append('^');
                    quantifiable = false;
                    break;
                case '$':
                    _i++;
                    _out.Append(Are ? "$" : @"\z");
                    quantifiable = false;
                    break;
                case '.':
                    _i++;
                    AppendSet(Complement(LineTerminators));
                    break;
                case '[':
                    AppendSet(Class());
                    break;
                case '(':
                    quantifiable = Group();
                    break;
                case '\\':
                    quantifiable = AtomEscape();
                    break;
                case '*' or '+' or '?' or '{':
                    throw Error("nothing to repeat");
                case ']' or '}':
                    throw Error($"lone '{Char(c)}'");
                default:
                    _i++;
                    AppendLiteral(c);
                    break;
            }

            if (_i < p.Count && p[_i] is '*' or '+' or '?' or '{')
            {
                if (!quantifiable)
                {
                    throw Error("nothing to repeat");
                }

                Quantifier(start);
            }
        }

        private bool Group()
        {
            _i++;
            string open;
            var quantifiable = true;
            if (At(_i, '?'))
            {
                if (At(_i + 1, ':'))
                {
                    open = "(?:";
                    _i += 2;
                }
                else if (At(_i + 1, '=') || At(_i + 1, '!'))
                {
                    open = "(?" + (char)p[_i + 1];
                    _i += 2;
                    quantifiable = false;
                }
                else if (At(_i + 1, '<') && (At(_i + 2, '=') || At(_i + 2, '!')))
                {
                    open = "(?<" + (char)p[_i + 2];
                    _i += 3;
                    quantifiable = false;
                }
                else if (At(_i + 1, '<'))
                {
                    var end = p.IndexOf('>', _i + 2);
                    if (end < 0 || end == _i + 2 || !ValidGroupName(_i + 2, end))
                    {
                        throw Error("invalid group name");
                    }

                    var name = Text(_i + 2, end);
                    if (_groupNames.Count(n => n == name) > 1)
                    {
                        throw Error($"duplicate group name '{name}'");
                    }

                    _groups++;
                    open = "(";
                    _i = end + 1;
                }
                else
                {
                    throw Error("invalid group");
                }
            }
            else
            {
                _groups++;
                open = "(";
            }

            _out.Append(open);
            Disjunction();
            if (!At(_i, ')'))
            {
                throw Error("missing ')'");
            }

            _i++;
            _out.Append(')');
            return quantifiable;
        }

        private bool ValidGroupName(int from, int to)
        {
            for (var i = from; i < to; i++)
            {
                var c = p[i];
                var ok = c is '$' or '_' || (c < 0x80 ? char.IsAsciiLetter((char)c) || (i > from && char.IsAsciiDigit((char)c)) : Rune.IsLetter(new Rune(c)));
                if (!ok)
                {
                    return false;
                }
            }

            return true;
        }

        private void Quantifier(int atomStart)
        {
            int min, max; // max = -1: unbounded
            var c = p[_i];
            if (c == '{')
            {
                var close = p.IndexOf('}', _i);
                var body = close < 0 ? null : Text(_i + 1, close);
                if (body is null || !QuantifierBody().IsMatch(body))
                {
                    throw Error("incomplete quantifier");
                }

                var parts = body.Split(',');
                min = int.Parse(parts[0], CultureInfo.InvariantCulture);
                max = parts.Length == 1 ? min : parts[1].Length == 0 ? -1 : int.Parse(parts[1], CultureInfo.InvariantCulture);
                if (max >= 0 && max < min)
                {
                    throw Error("numbers out of order in {} quantifier");
                }

                _i = close + 1;
            }
            else
            {
                (min, max) = c switch { '*' => (0, -1), '+' => (1, -1), _ => (0, 1) };
                _i++;
            }

            var lazy = At(_i, '?');
            if (lazy)
            {
                _i++;
            }

            if (!Are)
            {
                _out.Append(Repeat(min, max)).Append(lazy ? "?" : string.Empty);
                return;
            }

            // ARE: no lazy quantifiers needed (only whether a match exists counts) and bounds of at most 255.
            if (min <= AreMaxRepeat && max <= AreMaxRepeat)
            {
                _out.Append(Repeat(min, max));
                return;
            }

            var atom = _out.ToString(atomStart, _out.Length - atomStart);
            _out.Length = atomStart;
            var group = "(?:" + atom + ")";
            var text = new StringBuilder();
            AppendBounded(text, group, min, exact: true);
            if (max < 0)
            {
                text.Append(group).Append('*');
            }
            else
            {
                AppendBounded(text, group, max - min, exact: false);
            }

            _out.Append(text);
        }

        /// <summary>n repetitions (exact) or 0..n, as groups of at most 255.</summary>
        private void AppendBounded(StringBuilder text, string group, int n, bool exact)
        {
            var (q, r) = Math.DivRem(n, AreMaxRepeat);
            if (q > AreMaxRepeat)
            {
                throw Error("repetition count too large");
            }

            var inner = exact ? $"{{{AreMaxRepeat}}}" : $"{{0,{AreMaxRepeat}}}";
            if (q > 0)
            {
                text.Append("(?:").Append(group).Append(inner).Append(')').Append(exact ? $"{{{q}}}" : $"{{0,{q}}}");
            }

            if (r > 0)
            {
                text.Append(group).Append(exact ? $"{{{r}}}" : $"{{0,{r}}}");
            }
        }

        private static string Repeat(int min, int max) => (min, max) switch
        {
            (0, -1) => "*",
            (1, -1) => "+",
            (0, 1) => "?",
            (_, -1) => $"{{{min},}}",
            _ when min == max => $"{{{min}}}",
            _ => $"{{{min},{max}}}",
        };

        /// <summary>After a backslash outside a class. Returns whether the result can be quantified.</summary>
        private bool AtomEscape()
        {
            _i++;
            if (_i >= p.Count)
            {
                throw Error("\\ at end of pattern");
            }

            var c = p[_i];
            switch (c)
            {
                case 'b' or 'B':
                    _i++;
                    const string W = "[0-9A-Z_a-z]";
                    _out.Append(c == 'b'
                        ? $"(?:(?<={W})(?!{W})|(?<!{W})(?={W}))"
                        : $"(?:(?<={W})(?={W})|(?<!{W})(?!{W}))");
                    return false;
                case >= '1' and <= '9':
                    var start = _i;
                    while (_i < p.Count && p[_i] is >= '0' and <= '9')
                    {
                        _i++;
                    }

                    var number = _i - start > 9 ? int.MaxValue : int.Parse(Text(start, _i), CultureInfo.InvariantCulture);
                    if (number > _groupNames.Count)
                    {
                        throw Error($"reference to group {number}, which does not exist");
                    }

                    AppendBackReference(number);
                    return true;
                case 'k':
                    if (!At(_i + 1, '<'))
                    {
                        throw Error("invalid named reference");
                    }

                    var end = p.IndexOf('>', _i + 2);
                    var name = end < 0 ? string.Empty : Text(_i + 2, end);
                    var index = _groupNames.IndexOf(name);
                    if (end < 0 || name.Length == 0 || index < 0)
                    {
                        throw Error("invalid named reference");
                    }

                    _i = end + 1;
                    AppendBackReference(index + 1);
                    return true;
                default:
                    if (ClassEscape(inClass: false) is { } set)
                    {
                        AppendSet(set);
                    }

                    return true;
            }
        }

        private void AppendBackReference(int number) => _out.Append(Are ? $"(?:\\{number})" : $"\\k<{number}>");

        /// <summary>
        /// After a backslash: a class escape (a set) or a character escape (appended as a literal outside a class;
        /// returned as a one-element set inside one). Advances past the escape.
        /// </summary>
        private List<(int From, int To)>? ClassEscape(bool inClass)
        {
            var c = p[_i];
            _i++;
            switch (c)
            {
                case 'd': return Digits;
                case 'D': return Complement(Digits);
                case 'w': return WordCharacters;
                case 'W': return Complement(WordCharacters);
                case 's': return Spaces;
                case 'S': return Complement(Spaces);
                case 'p' or 'P':
                    if (!At(_i, '{'))
                    {
                        throw Error("invalid property name");
                    }

                    var close = p.IndexOf('}', _i);
                    if (close < 0)
                    {
                        throw Error("invalid property name");
                    }

                    var name = Text(_i + 1, close);
                    _i = close + 1;
                    var ranges = UnicodeProperties.Ranges(name) ?? throw Error($"unsupported Unicode property '{name}' (general categories, Any, ASCII and Assigned are supported)");
                    return c == 'p' ? ranges : Complement(ranges);
            }

            int value;
            switch (c)
            {
                case 't': value = 0x09; break;
                case 'n': value = 0x0A; break;
                case 'v': value = 0x0B; break;
                case 'f': value = 0x0C; break;
                case 'r': value = 0x0D; break;
                case 'b' when inClass: value = 0x08; break;
                case '-' when inClass: value = '-'; break;
                case 'c' when _i < p.Count && p[_i] < 0x80 && char.IsAsciiLetter((char)p[_i]):
                    value = p[_i] % 32;
                    _i++;
                    break;
                case '0' when !(_i < p.Count && p[_i] is >= '0' and <= '9'):
                    value = 0;
                    break;
                case 'x':
                    value = Hex(2);
                    break;
                case 'u':
                    value = UnicodeEscape();
                    break;
                case '/':
                    value = '/';
                    break;
                default:
                    if (c < 0x80 && SyntaxCharacters.Contains((char)c, StringComparison.Ordinal))
                    {
                        value = c;
                        break;
                    }

                    _i--;
                    throw Error($"invalid escape '\\{Char(c)}'");
            }

            if (inClass)
            {
                return [(value, value)];
            }

            AppendLiteral(value);
            return null;
        }

        private int Hex(int digits)
        {
            if (_i + digits > p.Count)
            {
                throw Error("invalid escape");
            }

            var text = Text(_i, _i + digits);
            if (!int.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value) || text.Any(ch => !char.IsAsciiHexDigit(ch)))
            {
                throw Error("invalid escape");
            }

            _i += digits;
            return value;
        }

        private int UnicodeEscape()
        {
            if (At(_i, '{'))
            {
                var close = p.IndexOf('}', _i);
                var text = close < 0 ? string.Empty : Text(_i + 1, close);
                if (text.Length is 0 or > 8 || text.Any(ch => !char.IsAsciiHexDigit(ch)) || !int.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var cp) || cp > MaxCodePoint)
                {
                    throw Error("invalid Unicode escape");
                }

                _i = close + 1;
                return cp;
            }

            var value = Hex(4);

            // A surrogate pair written as two escapes is one code point in u mode.
            if (value is >= 0xD800 and <= 0xDBFF && At(_i, '\\') && At(_i + 1, 'u') && _i + 6 <= p.Count)
            {
                var save = _i;
                _i += 2;
                if (!At(_i, '{'))
                {
                    var low = Hex(4);
                    if (low is >= 0xDC00 and <= 0xDFFF)
                    {
                        return 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00);
                    }
                }

                _i = save;
            }

            return value;
        }

        private List<(int From, int To)> Class()
        {
            _i++; // [
            var negated = At(_i, '^');
            if (negated)
            {
                _i++;
            }

            var set = new List<(int From, int To)>();
            while (true)
            {
                if (_i >= p.Count)
                {
                    throw Error("missing ']'");
                }

                if (p[_i] == ']')
                {
                    _i++;
                    break;
                }

                var (first, single) = ClassAtom();
                if (At(_i, '-') && _i + 1 < p.Count && p[_i + 1] != ']')
                {
                    _i++;
                    var (_, lastSingle) = ClassAtom();
                    if (single is null || lastSingle is null)
                    {
                        throw Error("invalid character class range");
                    }

                    if (lastSingle < single)
                    {
                        throw Error("range out of order in character class");
                    }

                    set.Add((single.Value, lastSingle.Value));
                }
                else
                {
                    set.AddRange(first);
                }
            }

            var normal = Normalize(set);
            return negated ? Complement(normal) : normal;
        }

        /// <summary>One class atom: its set, and its single code point when it is one character.</summary>
        private (List<(int From, int To)> Set, int? Single) ClassAtom()
        {
            var c = p[_i];
            if (c != '\\')
            {
                _i++;
                return ([(c, c)], c);
            }

            _i++;
            if (_i >= p.Count)
            {
                throw Error("\\ at end of pattern");
            }

            var isClassEscape = p[_i] is 'd' or 'D' or 'w' or 'W' or 's' or 'S' or 'p' or 'P';
            var set = ClassEscape(inClass: true)!;
            return (set, isClassEscape ? null : set[0].From);
        }

        private void AppendLiteral(int c)
        {
            if (c < 0x80 && (char.IsAsciiLetterOrDigit((char)c) || c == ' '))
            {
                _out.Append((char)c);
            }
            else if (c <= 0xFFFF)
            {
                if (c == 0 && Are)
                {
                    // No text in PostgreSQL holds U+0000: a pattern that needs it matches nothing.
                    _out.Append(@"[^\u0001-\U0010FFFF]");
                    return;
                }

                _out.Append(CultureInfo.InvariantCulture, $"\\u{c:X4}");
            }
            else if (Are)
            {
                _out.Append(CultureInfo.InvariantCulture, $"\\U{c:X8}");
            }
            else
            {
                var s = char.ConvertFromUtf32(c);
                _out.Append(CultureInfo.InvariantCulture, $"(?:\\u{(int)s[0]:X4}\\u{(int)s[1]:X4})");
            }
        }

        private void AppendSet(List<(int From, int To)> set) => _out.Append(Are ? AreSet(set) : DotNetSet(set));

        private ArgumentException Error(string message) =>
            new($"invalid pattern at position {Math.Min(_i, p.Count)}: {message}");

        private static string Char(int c) => char.ConvertFromUtf32(c);
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[0-9]{1,9}(,([0-9]{1,9})?)?$")]
    private static partial System.Text.RegularExpressions.Regex QuantifierBody();

    /// <summary>Sorted, merged, non-overlapping ranges.</summary>
    internal static List<(int From, int To)> Normalize(List<(int From, int To)> ranges)
    {
        var sorted = ranges.OrderBy(r => r.From).ToList();
        var merged = new List<(int From, int To)>();
        foreach (var r in sorted)
        {
            if (merged.Count > 0 && r.From <= merged[^1].To + 1)
            {
                merged[^1] = (merged[^1].From, Math.Max(merged[^1].To, r.To));
            }
            else
            {
                merged.Add(r);
            }
        }

        return merged;
    }

    internal static List<(int From, int To)> Complement(List<(int From, int To)> ranges)
    {
        var result = new List<(int From, int To)>();
        var next = 0;
        foreach (var (from, to) in Normalize(ranges))
        {
            if (from > next)
            {
                result.Add((next, from - 1));
            }

            next = to + 1;
        }

        if (next <= MaxCodePoint)
        {
            result.Add((next, MaxCodePoint));
        }

        return result;
    }

    /// <summary>The ranges without U+0000 and the surrogates, which no text in either engine holds as a character.</summary>
    private static List<(int From, int To)> Characters(List<(int From, int To)> set)
    {
        var result = new List<(int From, int To)>();
        foreach (var (from, to) in Normalize(set))
        {
            foreach (var (a, b) in new[] { (Math.Max(from, 1), Math.Min(to, 0xD7FF)), (Math.Max(from, 0xE000), to) })
            {
                if (a <= b)
                {
                    result.Add((a, b));
                }
            }
        }

        return result;
    }

    private static string AreSet(List<(int From, int To)> set)
    {
        var ranges = Characters(set);
        if (ranges.Count == 0)
        {
            return @"[^\u0001-\U0010FFFF]";
        }

        var text = new StringBuilder("[");
        foreach (var (from, to) in ranges)
        {
            text.Append(AreChar(from));
            if (to > from)
            {
                text.Append('-').Append(AreChar(to));
            }
        }

        return text.Append(']').ToString();
    }

    private static string AreChar(int c) => c <= 0xFFFF
        ? string.Create(CultureInfo.InvariantCulture, $"\\u{c:X4}")
        : string.Create(CultureInfo.InvariantCulture, $"\\U{c:X8}");

    private static string DotNetSet(List<(int From, int To)> set)
    {
        var ranges = Characters(set);
        var bmp = new StringBuilder();
        var astral = new List<string>();
        foreach (var (from, to) in ranges)
        {
            if (from <= 0xFFFF)
            {
                var end = Math.Min(to, 0xFFFF);
                bmp.Append(CultureInfo.InvariantCulture, $"\\u{from:X4}");
                if (end > from)
                {
                    bmp.Append(CultureInfo.InvariantCulture, $"-\\u{end:X4}");
                }
            }

            if (to > 0xFFFF)
            {
                AstralAlternatives(Math.Max(from, 0x10000), to, astral);
            }
        }

        var parts = new List<string>();
        if (bmp.Length > 0)
        {
            parts.Add("[" + bmp + "]");
        }

        parts.AddRange(astral);
        return parts.Count switch
        {
            0 => "(?!)",
            1 when astral.Count == 0 => parts[0],
            _ => "(?:" + string.Join('|', parts) + ")",
        };
    }

    /// <summary>A range of supplementary code points as surrogate-pair alternatives.</summary>
    private static void AstralAlternatives(int from, int to, List<string> alternatives)
    {
        static (int High, int Low) Split(int c) => (0xD800 + ((c - 0x10000) >> 10), 0xDC00 + ((c - 0x10000) & 0x3FF));
        var (fh, fl) = Split(from);
        var (th, tl) = Split(to);
        string Range(int a, int b) => a == b ? $"\\u{a:X4}" : $"[\\u{a:X4}-\\u{b:X4}]";
        if (fh == th)
        {
            alternatives.Add(string.Create(CultureInfo.InvariantCulture, $"\\u{fh:X4}{Range(fl, tl)}"));
            return;
        }

        if (fl != 0xDC00)
        {
            alternatives.Add(string.Create(CultureInfo.InvariantCulture, $"\\u{fh:X4}{Range(fl, 0xDFFF)}"));
            fh++;
        }

        var lastFull = tl == 0xDFFF ? th : th - 1;
        if (lastFull >= fh)
        {
            alternatives.Add(Range(fh, lastFull) + @"[\uDC00-\uDFFF]");
        }

        if (tl != 0xDFFF)
        {
            alternatives.Add(string.Create(CultureInfo.InvariantCulture, $"\\u{th:X4}{Range(0xDC00, tl)}"));
        }
    }
}
