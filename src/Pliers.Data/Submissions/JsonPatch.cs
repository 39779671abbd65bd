using System.Text;
using System.Text.Json;

namespace Pliers.Data.Submissions;

/// <summary>
/// Builds an RFC 6902 JSON Patch that turns one JSON document into another: members removed, added or replaced by
/// name; arrays compared by index (the common part recursively, then elements added at the end or removed from the
/// end); any other difference replaces the value. Paths are RFC 6901 pointers (<c>~</c> and <c>/</c> escaped).
/// </summary>
internal static class JsonPatch
{
    public static JsonElement Diff(JsonElement from, JsonElement to)
    {
        var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            Diff(from, to, string.Empty, writer);
            writer.WriteEndArray();
        }

        return JsonDocument.Parse(buffer.ToArray()).RootElement.Clone();
    }

    private static void Diff(JsonElement from, JsonElement to, string path, Utf8JsonWriter patch)
    {
        if (from.ValueKind == JsonValueKind.Object && to.ValueKind == JsonValueKind.Object)
        {
            var target = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var member in to.EnumerateObject())
            {
                target[member.Name] = member.Value;
            }

            var source = new HashSet<string>(StringComparer.Ordinal);
            foreach (var member in from.EnumerateObject())
            {
                source.Add(member.Name);
                if (target.TryGetValue(member.Name, out var value))
                {
                    Diff(member.Value, value, path + "/" + Escape(member.Name), patch);
                }
                else
                {
                    Operation(patch, "remove", path + "/" + Escape(member.Name), null);
                }
            }

            foreach (var member in to.EnumerateObject())
            {
                if (!source.Contains(member.Name))
                {
                    Operation(patch, "add", path + "/" + Escape(member.Name), member.Value);
                }
            }

            return;
        }

        if (from.ValueKind == JsonValueKind.Array && to.ValueKind == JsonValueKind.Array)
        {
            var a = from.GetArrayLength();
            var b = to.GetArrayLength();
            for (var i = 0; i < Math.Min(a, b); i++)
            {
                Diff(from[i], to[i], path + "/" + i, patch);
            }

            for (var i = a; i < b; i++)
            {
                Operation(patch, "add", path + "/" + i, to[i]);
            }

            for (var i = a - 1; i >= b; i--)
            {
                Operation(patch, "remove", path + "/" + i, null);
            }

            return;
        }

        if (!JsonElement.DeepEquals(from, to))
        {
            Operation(patch, "replace", path, to);
        }
    }

    private static void Operation(Utf8JsonWriter patch, string op, string path, JsonElement? value)
    {
        patch.WriteStartObject();
        patch.WriteString("op", op);
        patch.WriteString("path", path);
        if (value is { } v)
        {
            patch.WritePropertyName("value");
            v.WriteTo(patch);
        }

        patch.WriteEndObject();
    }

    private static string Escape(string name)
    {
        if (name.IndexOfAny(['~', '/']) < 0)
        {
            return name;
        }

        var escaped = new StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            escaped.Append(c switch { '~' => "~0", '/' => "~1", _ => c.ToString() });
        }

        return escaped.ToString();
    }
}
