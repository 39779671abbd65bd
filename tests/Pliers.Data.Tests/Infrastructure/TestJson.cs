using System.Text;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>Small helpers several test classes share.</summary>
internal static class TestJson
{
    /// <summary>A JSON document as a <see cref="System.Text.Json.JsonElement"/> that outlives its parse.</summary>
    public static System.Text.Json.JsonElement JsonOf(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement.Clone();

    /// <summary>A JSON object nested <paramref name="depth"/> levels deep (<c>{"a":{"a":{}}}</c> is 3).</summary>
    public static string Nested(int depth) => new StringBuilder().Insert(0, "{\"a\":", depth - 1).Append("{}").Append('}', depth - 1).ToString();

    /// <summary>Enumerates an async sequence to the end.</summary>
    public static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> source)
    {
        var list = new List<T>();
        await foreach (var item in source)
        {
            list.Add(item);
        }

        return list;
    }
}
