using System.Text.RegularExpressions;

namespace Pliers.Data.Internal;

/// <summary>
/// The configured schema name: the only identifier ever interpolated into SQL, so it is validated once
/// here and always emitted quoted.
/// </summary>
internal static partial class SchemaName
{
    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static string? Validate(string? schema)
    {
        if (string.IsNullOrEmpty(schema))
        {
            return "Schema must not be empty.";
        }

        if (!Pattern().IsMatch(schema))
        {
            return $"Schema '{Printable(schema)}' is not a valid Pliers schema name: use 1 to 63 characters from a-z, 0-9 and '_', not starting with a digit.";
        }

        if (schema.StartsWith("pg_", StringComparison.Ordinal) || schema is "information_schema" or "public")
        {
            return $"Schema '{schema}' is reserved; choose a schema of its own for Pliers (the default is '{PliersDataOptions.DefaultSchema}').";
        }

        return null;
    }

    public static string EnsureValid(string? schema)
    {
        var error = Validate(schema);
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(schema));
        }

        return schema!;
    }

    /// <summary>The schema as a quoted identifier, safe to interpolate after validation.</summary>
    public static string Quote(string schema) => "\"" + EnsureValid(schema) + "\"";

    private static string Printable(string value)
    {
        var shortened = value.Length > 80 ? value[..80] + "..." : value;
        return Regex.Replace(shortened, @"\p{C}", "?");
    }
}
