using System.Text;
using System.Text.Json;

namespace Pliers.Data.Internal;

/// <summary>
/// One nesting limit for every JSON document the library writes and reads (<see cref="PliersDataOptions.MaxDocumentDepth"/>),
/// counted as System.Text.Json counts it (nested objects and arrays; <c>{}</c> is 1): nothing is stored that a
/// read cannot parse back.
/// </summary>
internal static class JsonDepth
{
    /// <summary>The nesting depth of <paramref name="json"/> (valid JSON text).</summary>
    public static int Of(string json)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json), new JsonReaderOptions { MaxDepth = int.MaxValue / 2 });
        var max = 0;
        while (reader.Read())
        {
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                max = Math.Max(max, reader.CurrentDepth + 1);
            }
        }

        return max;
    }

    /// <summary>Refuses <paramref name="json"/> when it is nested deeper than <paramref name="limit"/>, naming <paramref name="path"/>.</summary>
    public static void Check(string json, int limit, string path, string what)
    {
        var depth = Of(json);
        if (depth > limit)
        {
            throw new PliersValidationException(
                $"{what} is nested {depth} levels deep; at most {limit} are allowed (PliersDataOptions.MaxDocumentDepth).",
                [new PliersValidationError(path, "maxDepth", $"at most {limit} levels")]);
        }
    }

    /// <summary>Parses JSON text read from a jsonb column with the library's depth limit (Npgsql's own reader stops at 64 levels).</summary>
    public static JsonElement Parse(string json, int limit)
    {
        // One copy: the element owns its (unpooled) document, where Parse + Clone would build it twice.
        return JsonElement.Parse(json, new JsonDocumentOptions { MaxDepth = Math.Max(limit, 64) });
    }
}
