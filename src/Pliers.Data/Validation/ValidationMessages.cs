using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Pliers.Data.Validation;

/// <summary>
/// The message of a validation error, made from its keyword and detail; the database's <c>_jsv_message</c>
/// (validation-detail.sql) is the same table, so that both layers word every error alike (ErrorShapeTests compares
/// them). Numbers print as PostgreSQL prints a jsonb number (<c>1e2</c> as <c>100</c>).
/// </summary>
internal static class ValidationMessages
{
    /// <summary>The message for <paramref name="keyword"/> with <paramref name="detail"/>.</summary>
    public static string Render(string keyword, JsonElement detail) => keyword switch
    {
        "false" => "no value is allowed here",
        "type" => $"must be {string.Join(" or ", detail.GetProperty("expected").EnumerateArray().Select(e => e.GetString()))}, not {Text(detail, "found")}",
        "enum" => "must be one of the allowed values",
        "const" => "must be the allowed value",
        "minimum" => $"must be at least {Number(detail, "limit")}",
        "maximum" => $"must be at most {Number(detail, "limit")}",
        "exclusiveMinimum" => $"must be greater than {Number(detail, "limit")}",
        "exclusiveMaximum" => $"must be less than {Number(detail, "limit")}",
        "multipleOf" => $"must be a multiple of {Number(detail, "limit")}",
        "minLength" => $"must be at least {Number(detail, "limit")} characters long",
        "maxLength" => $"must be at most {Number(detail, "limit")} characters long",
        "pattern" => $"must match the pattern {Text(detail, "pattern")}",
        "format" => $"must be a valid {Text(detail, "format")}",
        "required" => $"\"{Text(detail, "missing")}\" is required",
        "dependentRequired" => $"\"{Text(detail, "missing")}\" is required when \"{Text(detail, "when")}\" is present",
        "minProperties" => $"must have at least {Number(detail, "limit")} properties",
        "maxProperties" => $"must have at most {Number(detail, "limit")} properties",
        "additionalProperties" or "unevaluatedProperties" => $"\"{Text(detail, "property")}\" is not allowed",
        "propertyNames" => $"property name \"{Text(detail, "property")}\" is not allowed",
        "minItems" => $"must have at least {Number(detail, "limit")} items",
        "maxItems" => $"must have at most {Number(detail, "limit")} items",
        "uniqueItems" => $"must not contain duplicates (items {detail.GetProperty("duplicates")[0].GetRawText()} and {detail.GetProperty("duplicates")[1].GetRawText()} are equal)",
        "contains" or "minContains" => $"must contain at least {Number(detail, "limit")} matching item(s), found {Number(detail, "found")}",
        "maxContains" => $"must contain at most {Number(detail, "limit")} matching item(s), found {Number(detail, "found")}",
        "anyOf" => "must match at least one of the schemas in \"anyOf\"",
        "oneOf" => $"must match exactly one of the schemas in \"oneOf\", matches {Number(detail, "matches")}",
        "not" => "must not match the schema in \"not\"",
        "unevaluatedItems" => $"item {Number(detail, "index")} is not allowed",
        _ => keyword,
    };

    private static string? Text(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : Json(detail, name);

    private static string Json(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var value) ? value.GetRawText() : string.Empty;

    private static string Number(JsonElement detail, string name) =>
        detail.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? PostgresNumber(value.GetRawText()) : Json(detail, name);

    /// <summary>
    /// A JSON number as PostgreSQL's <c>numeric</c> prints it: no exponent, and as many decimals as the literal had
    /// beyond its exponent (<c>1.50</c> stays <c>1.50</c>, <c>1e2</c> is <c>100</c>, <c>15e-1</c> is <c>1.5</c>).
    /// </summary>
    internal static string PostgresNumber(string json)
    {
        var e = json.IndexOfAny(['e', 'E']);
        var significand = e < 0 ? json : json[..e];
        if (e >= 0 && (!int.TryParse(json.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed) || Math.Abs(parsed) > 100_000))
        {
            return json; // beyond what jsonb's numeric holds
        }

        var exponent = e < 0 ? 0 : int.Parse(json.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var negative = significand.StartsWith('-');
        significand = significand.TrimStart('-');
        var dot = significand.IndexOf('.', StringComparison.Ordinal);
        var fraction = dot < 0 ? 0 : significand.Length - dot - 1;
        var digits = BigInteger.Parse(dot < 0 ? significand : significand.Remove(dot, 1), CultureInfo.InvariantCulture);
        var scale = Math.Max(0, fraction - exponent);
        var shift = exponent - fraction + scale; // >= 0: the digits times 10^shift, with scale decimals
        var text = (digits * BigInteger.Pow(10, shift)).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        if (scale > 0)
        {
            text = text[..^scale] + "." + text[^scale..];
        }

        return negative && !digits.IsZero ? "-" + text : text;
    }
}
