namespace Pliers.Data.Internal;

internal static class JsonText
{
    /// <summary>
    /// Whether JSON text holds the escape <c>\u0000</c>, which jsonb refuses (22P05). An escaped backslash
    /// followed by "u0000" is ordinary text and does not count.
    /// </summary>
    public static bool HasNullCharacter(string json)
    {
        var index = json.IndexOf("u0000", StringComparison.OrdinalIgnoreCase);
        while (index > 0)
        {
            var backslashes = 0;
            for (var i = index - 1; i >= 0 && json[i] == '\\'; i--)
            {
                backslashes++;
            }

            if (backslashes % 2 == 1)
            {
                return true;
            }

            index = json.IndexOf("u0000", index + 5, StringComparison.OrdinalIgnoreCase);
        }

        return false;
    }
}
