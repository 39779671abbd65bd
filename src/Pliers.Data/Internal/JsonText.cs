using System.Globalization;

namespace Pliers.Data.Internal;

internal static class JsonText
{
    /// <summary>
    /// What in JSON text jsonb cannot store, or null: the escape <c>\u0000</c> (22P05) or an unpaired UTF-16
    /// surrogate escape such as <c>\ud800</c> (22P02). Escaped backslashes (<c>\\u0000</c> is ordinary text) are
    /// skipped.
    /// </summary>
    public static string? Problem(string json)
    {
        var pendingHigh = false;
        for (var i = 0; i < json.Length; i++)
        {
            if (json[i] != '\\' || i + 1 >= json.Length)
            {
                if (pendingHigh)
                {
                    return "an unpaired Unicode surrogate escape is not allowed in jsonb text";
                }

                continue;
            }

            var next = json[i + 1];
            if (next != 'u' || i + 5 >= json.Length || !int.TryParse(json.AsSpan(i + 2, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var code))
            {
                if (pendingHigh)
                {
                    return "an unpaired Unicode surrogate escape is not allowed in jsonb text";
                }

                i++; // an escape like \\ or \" : skip the escaped character
                continue;
            }

            if (code == 0)
            {
                return "\\u0000 is not allowed in jsonb text";
            }

            var high = code is >= 0xD800 and <= 0xDBFF;
            var low = code is >= 0xDC00 and <= 0xDFFF;
            if ((pendingHigh && !low) || (!pendingHigh && low))
            {
                return "an unpaired Unicode surrogate escape is not allowed in jsonb text";
            }

            pendingHigh = high;
            i += 5;
        }

        return pendingHigh ? "an unpaired Unicode surrogate escape is not allowed in jsonb text" : null;
    }
}
