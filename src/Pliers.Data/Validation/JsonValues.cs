using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Pliers.Data.Validation;

/// <summary>
/// JSON values compared as JSON Schema says: numbers by their mathematical value, exactly (<c>1</c> = <c>1.0</c> =
/// <c>1e0</c>; <c>4.000000000000000000000001</c> is not an integer; <c>1e400</c> is), whatever their size, where
/// <see cref="decimal"/> and <see cref="double"/> would round or throw. The database layer uses PostgreSQL's exact
/// <c>numeric</c> for the same rules.
/// </summary>
internal static class JsonValues
{
    /// <summary>A number as an integer mantissa without trailing zeros and a power of ten.</summary>
    internal readonly record struct Exact(BigInteger Mantissa, long Exponent)
    {
        public bool IsInteger => Mantissa.IsZero || Exponent >= 0;
    }

    /// <summary>Parses the text of a JSON number exactly.</summary>
    public static Exact Number(JsonElement number)
    {
        var text = number.GetRawText();
        var e = text.IndexOfAny(['e', 'E']);
        long exponent = 0;
        var significand = e < 0 ? text : text[..e];
        if (e >= 0)
        {
            // Exponents beyond ±10^15 do not occur in documents jsonb accepts; clamp rather than overflow.
            var digits = text[(e + 1)..];
            exponent = long.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed)
                ? parsed
                : digits.StartsWith('-') ? -1_000_000_000_000_000 : 1_000_000_000_000_000;
        }

        var dot = significand.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            exponent -= significand.Length - dot - 1;
            significand = significand.Remove(dot, 1);
        }

        var mantissa = BigInteger.Parse(significand, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        if (mantissa.IsZero)
        {
            return new Exact(BigInteger.Zero, 0);
        }

        while (mantissa % 10 == 0)
        {
            mantissa /= 10;
            exponent++;
        }

        return new Exact(mantissa, exponent);
    }

    /// <summary>Whether a number has no fractional part (JSON Schema's <c>integer</c>).</summary>
    public static bool IsInteger(JsonElement number) => Number(number).IsInteger;

    /// <summary>Deep equality with numbers compared by value and object members in any order.</summary>
    public static bool Equal(JsonElement a, JsonElement b)
    {
        var kindA = a.ValueKind is JsonValueKind.True or JsonValueKind.False ? JsonValueKind.True : a.ValueKind;
        var kindB = b.ValueKind is JsonValueKind.True or JsonValueKind.False ? JsonValueKind.True : b.ValueKind;
        if (kindA != kindB)
        {
            return false;
        }

        switch (a.ValueKind)
        {
            case JsonValueKind.True or JsonValueKind.False:
                return a.ValueKind == b.ValueKind;
            case JsonValueKind.Null:
                return true;
            case JsonValueKind.Number:
                return Number(a) == Number(b);
            case JsonValueKind.String:
                return a.ValueEquals(b.GetString());
            case JsonValueKind.Array:
                if (a.GetArrayLength() != b.GetArrayLength())
                {
                    return false;
                }

                using (var left = a.EnumerateArray())
                using (var right = b.EnumerateArray())
                {
                    while (left.MoveNext() && right.MoveNext())
                    {
                        if (!Equal(left.Current, right.Current))
                        {
                            return false;
                        }
                    }
                }

                return true;
            case JsonValueKind.Object:
                var members = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in a.EnumerateObject())
                {
                    members[p.Name] = p.Value;
                }

                var count = 0;
                foreach (var p in b.EnumerateObject())
                {
                    count++;
                    if (!members.TryGetValue(p.Name, out var value) || !Equal(value, p.Value))
                    {
                        return false;
                    }
                }

                return count == members.Count;
            default:
                return false;
        }
    }
}
