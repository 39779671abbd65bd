namespace Pliers.Data.Migrations;

/// <summary>Embedded SQL scripts: statements separated by lines holding only <c>---</c>, comment lines dropped.</summary>
internal static class SqlScript
{
    /// <summary>The statements of an embedded script, <c>@s@</c> still standing for the schema.</summary>
    public static string[] Load(string resource)
    {
        using var stream = typeof(SqlScript).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"The embedded script {resource} is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd()
            .Replace("\r\n", "\n", StringComparison.Ordinal)
            .Split("\n---\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(statement => string.Join('\n', statement.Split('\n').Where(line => !line.StartsWith("--", StringComparison.Ordinal))).Trim())
            .Where(statement => statement.Length > 0)
            .ToArray();
    }
}
