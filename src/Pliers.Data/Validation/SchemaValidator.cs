using System.Globalization;
using System.Collections.Concurrent;
using System.Text.Json;
using Json.Schema;

namespace Pliers.Data.Validation;

/// <summary>
/// The application layer of validation (JsonSchema.Net): checks definition schemas when they are saved and
/// submission data before it is written. Built schemas are cached per definition id and version.
/// </summary>
internal sealed class SchemaValidator
{
    /// <summary>Keywords the in-database validator does not implement; a schema using one is refused at save time.</summary>
    internal static readonly string[] UnsupportedKeywords = ["$recursiveRef", "$recursiveAnchor", "$vocabulary", "dependencies", "additionalItems"];

    private static readonly EvaluationOptions FlagOptions = new() { OutputFormat = OutputFormat.Flag };

    /// <summary>Built schemas kept at most (per definition id and version).</summary>
    internal const int MaxCachedSchemas = 10_000;

    private readonly ConcurrentDictionary<(Guid, int), JsonSchema> _cache = new();

    /// <summary>Checks a definition document: an object with a <c>schema</c> member that is a valid, supported draft 2020-12 schema.</summary>
    public static void CheckDefinition(JsonElement definition)
    {
        if (definition.ValueKind != JsonValueKind.Object)
        {
            throw Invalid("The definition must be a JSON object.", string.Empty, "type", "the definition must be a JSON object");
        }

        if (!definition.TryGetProperty("schema", out var schema) || schema.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
        {
            throw Invalid("The definition must carry a JSON Schema in its \"schema\" member.", "/schema", "required", "\"schema\" must be a JSON Schema (an object or a boolean)");
        }

        var meta = MetaSchemas.Draft202012.Evaluate(schema, new EvaluationOptions { OutputFormat = OutputFormat.List });
        var metaErrors = meta.IsValid ? [] : Errors(meta, "/schema");
        if (!meta.IsValid)
        {
            throw new PliersValidationException(
                $"The definition's \"schema\" is not a valid JSON Schema (draft 2020-12): {(metaErrors.Count > 0 ? metaErrors[0].Path + " " + metaErrors[0].Message : "rejected by the meta-schema")}",
                metaErrors.Count > 0 ? metaErrors : [new PliersValidationError("/schema", "$schema", "not a valid draft 2020-12 schema")]);
        }

        var problems = new List<PliersValidationError>();
        Walk(schema, "/schema", problems, LocalIds(schema));
        if (problems.Count > 0)
        {
            throw new PliersValidationException("The definition's \"schema\" uses what the database validator cannot check.", problems);
        }

        try
        {
            Build(schema);
        }
        catch (Exception e) when (e is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or RefResolutionException)
        {
            throw Invalid("The definition's \"schema\" cannot be used: " + e.Message, "/schema", "schema", e.Message);
        }
    }

    /// <summary>Validates submission data against a definition's schema; throws with every error when it does not match.</summary>
    public void Validate(Guid definitionId, int version, JsonElement schema, JsonElement data)
    {
        if (_cache.Count > MaxCachedSchemas && !_cache.ContainsKey((definitionId, version)))
        {
            // Bounded: a host with more live versions than this rebuilds some schemas (~1 ms each) rather than grow.
            _cache.Clear();
        }

        var built = _cache.GetOrAdd((definitionId, version), _ => Build(schema));

        // The flag output stops at the first failure and allocates little: the common, valid case pays only
        // for that. Invalid data is evaluated again with the list output to name every error.
        EvaluationResults result;
        try
        {
            if (built.Evaluate(data, FlagOptions).IsValid)
            {
                return;
            }

            result = built.Evaluate(data, new EvaluationOptions { OutputFormat = OutputFormat.List });
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException e)
        {
            throw new PliersValidationException(
                $"A pattern of the form's schema took longer than {PliersKeywords.MatchTimeout.TotalSeconds:0} s on this data (a look-around or back-reference pattern that backtracks); the data was refused.",
                [new PliersValidationError(string.Empty, "pattern", $"pattern {e.Pattern} timed out")],
                e);
        }

        if (!result.IsValid)
        {
            var errors = DataErrors(result, schema, data);
            IReadOnlyList<PliersValidationError> list = errors.Count > 0 ? errors : [new PliersValidationError(string.Empty, "schema", "the data does not match the schema")];
            throw new PliersValidationException(PliersValidationException.Describe("The submission data does not match the form's JSON Schema", list), list);
        }
    }

    internal static JsonSchema Build(JsonElement schema) =>
        JsonSchema.Build(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry(), Dialect = PliersKeywords.Dialect, DialectRegistry = PliersKeywords.Dialects });

    private static List<PliersValidationError> Errors(EvaluationResults result, string prefix)
    {
        var errors = new List<PliersValidationError>();
        void Add(EvaluationResults r)
        {
            if (r.Errors is { } found)
            {
                foreach (var (keyword, message) in found)
                {
                    // A false subschema reports no keyword; the keyword that holds it (additionalProperties,
                    // items, ...) ends the evaluation path.
                    var name = keyword.Length > 0 ? keyword : r.EvaluationPath.ToString().Split('/')[^1];
                    errors.Add(new PliersValidationError(prefix + r.InstanceLocation, name.Length > 0 ? name : "false", message));
                }
            }
        }

        Add(result);
        foreach (var detail in result.Details ?? [])
        {
            Add(detail);
        }

        return errors.DistinctBy(e => (e.Path, e.Keyword, e.Message)).ToList();
    }

    /// <summary>
    /// The errors of invalid data in the shape the database layer gives them (<c>jsonb_schema_errors</c>): a missing
    /// member at its own path (<c>/address/zip</c>, "\"zip\" is required"); a failed <c>anyOf</c>/<c>oneOf</c> as one
    /// error at its location (how many branches matched), not the errors inside its branches; nothing from inside
    /// <c>not</c> or <c>if</c>, whose subschemas failing is not an error of the data. Each error carries the same
    /// detail as the database's and the message <see cref="ValidationMessages"/> makes from it.
    /// </summary>
    internal static List<PliersValidationError> DataErrors(EvaluationResults result, JsonElement schema, JsonElement data)
    {
        var nodes = new List<EvaluationResults> { result };
        nodes.AddRange(result.Details ?? []);
        var errors = new List<PliersValidationError>();

        // The tokens of an evaluation path, with member names and indices blanked: only keywords are left to match.
        static string[] Segments(EvaluationResults r)
        {
            var tokens = r.EvaluationPath.ToString().Split('/', StringSplitOptions.RemoveEmptyEntries);
            var name = false;
            for (var i = 0; i < tokens.Length; i++)
            {
                var keyword = !name;
                name = keyword && tokens[i] is "properties" or "patternProperties" or "$defs" or "definitions" or "dependentSchemas" or "allOf" or "anyOf" or "oneOf" or "prefixItems";
                if (!keyword)
                {
                    tokens[i] = int.TryParse(tokens[i], NumberStyles.None, CultureInfo.InvariantCulture, out _) ? "#" : "-";
                }
            }

            return tokens;
        }

        // What fails inside these subschemas is not an error of the data (the database evaluates them without collecting).
        static bool Conditional(IEnumerable<string> segments) => segments.Any(s => s is "anyOf" or "oneOf" or "not" or "if" or "contains");

        void Add(string path, string keyword, object detail)
        {
            var element = JsonSerializer.SerializeToElement(detail);
            errors.Add(new PliersValidationError(path, keyword, ValidationMessages.Render(keyword, element)) { Detail = element });
        }

        // anyOf / oneOf: branch nodes end in .../anyOf/<n>; one error per applicator and instance location.
        foreach (var applicator in nodes
            .Select(n => (Node: n, Segments: Segments(n)))
            .Where(n => n.Segments.Length >= 2 && n.Segments[^2] is "anyOf" or "oneOf" && n.Segments[^1] == "#" && !Conditional(n.Segments[..^2]))
            .GroupBy(n => (Path: string.Join('/', n.Node.EvaluationPath.ToString().Split('/', StringSplitOptions.RemoveEmptyEntries)[..^1]), Keyword: n.Segments[^2], Location: n.Node.InstanceLocation.ToString())))
        {
            var matches = applicator.DistinctBy(n => n.Node.EvaluationPath.ToString()).Count(n => n.Node.IsValid);
            if ((applicator.Key.Keyword == "anyOf" && matches == 0) || (applicator.Key.Keyword == "oneOf" && matches != 1))
            {
                Add(applicator.Key.Location, applicator.Key.Keyword, new { matches });
            }
        }

        // not: JsonSchema.Net 8 fails the parent without an error of its own; the subschema that matched is the sign.
        foreach (var node in nodes)
        {
            var segments = Segments(node);
            if (node.IsValid && segments.Length > 0 && segments[^1] == "not" && !Conditional(segments[..^1]))
            {
                Add(node.InstanceLocation.ToString(), "not", new { });
            }
        }

        foreach (var node in nodes)
        {
            var segments = Segments(node);
            if (node.Errors is not { } found || Conditional(segments))
            {
                continue;
            }

            var location = node.InstanceLocation.ToString();
            var member = Unescape(location[(location.LastIndexOf('/') + 1)..]);
            foreach (var (keyword, message) in found)
            {
                if (keyword == "required" && message.StartsWith(PliersKeywords.RequiredPrefix, StringComparison.Ordinal))
                {
                    foreach (var missing in JsonSerializer.Deserialize<string[]>(message[PliersKeywords.RequiredPrefix.Length..])!)
                    {
                        Add(location + "/" + Escape(missing), "required", new { missing });
                    }
                }
                else if (keyword == "dependentRequired" && message.StartsWith(PliersKeywords.DependentRequiredPrefix, StringComparison.Ordinal))
                {
                    foreach (var (missing, present) in JsonSerializer.Deserialize<Dictionary<string, string>>(message[PliersKeywords.DependentRequiredPrefix.Length..])!)
                    {
                        Add(location + "/" + Escape(missing), "dependentRequired", new { missing, when = present });
                    }
                }
                else if (segments.Contains("propertyNames"))
                {
                    // A member name refused by propertyNames is that keyword's error, whatever refused it inside.
                    Add(location, "propertyNames", new { property = member });
                }
                else if (keyword.Length == 0)
                {
                    // A false subschema: the database names the keyword that holds it for members and items it refuses.
                    var holder = segments.Length > 0 ? segments[^1] : string.Empty;
                    switch (holder)
                    {
                        case "additionalProperties" or "unevaluatedProperties":
                            Add(location, holder, new { property = member });
                            break;
                        case "unevaluatedItems":
                            Add(location, holder, new { index = int.Parse(member, CultureInfo.InvariantCulture) });
                            break;
                        default:
                            Add(location, "false", new { });
                            break;
                    }
                }
                else if (keyword == "uniqueItems" && message.StartsWith(PliersKeywords.DuplicatesPrefix, StringComparison.Ordinal))
                {
                    Add(location, keyword, new { duplicates = JsonSerializer.Deserialize<int[]>(message[PliersKeywords.DuplicatesPrefix.Length..]) });
                }
                else if (keyword is "contains" or "minContains" or "maxContains")
                {
                    var owner = SchemaObject(schema, node, "contains");
                    var matching = nodes.Where(n => n.IsValid && n.EvaluationPath.ToString() == node.EvaluationPath + "/contains"
                        && n.InstanceLocation.ToString().StartsWith(location + "/", StringComparison.Ordinal)).Select(n => n.InstanceLocation.ToString()).Distinct(StringComparer.Ordinal).Count();
                    var min = owner is { } o && o.TryGetProperty("minContains", out var m) ? m : (JsonElement?)null;
                    if (matching < (min is { } minimum ? minimum.GetDecimal() : 1))
                    {
                        Add(location, min is null ? "contains" : "minContains", new { limit = min ?? JsonSerializer.SerializeToElement(1), found = matching });
                    }
                    else if (owner is { } o2 && o2.TryGetProperty("maxContains", out var max))
                    {
                        Add(location, "maxContains", new { limit = max, found = matching });
                    }
                }
                else if (keyword is "additionalProperties" or "unevaluatedProperties")
                {
                    Add(location, keyword, new { property = member });
                }
                else if (keyword == "unevaluatedItems")
                {
                    Add(location, keyword, new { index = int.Parse(member, CultureInfo.InvariantCulture) });
                }
                else if (SchemaObject(schema, node, keyword) is { } owner && owner.TryGetProperty(keyword, out var value))
                {
                    object detail = keyword switch
                    {
                        "type" => new { expected = value.ValueKind == JsonValueKind.Array ? value : JsonSerializer.SerializeToElement(new[] { value }), found = Kind(At(data, location)) },
                        "enum" => new { allowed = value },
                        "const" => new { expected = value },
                        "pattern" => new { pattern = value },
                        "format" => new { format = value },
                        "not" => new { },
                        _ => new { limit = value },
                    };
                    Add(location, keyword, detail);
                }
                else
                {
                    errors.Add(new PliersValidationError(location, keyword, message));
                }
            }
        }

        return errors.DistinctBy(e => (e.Path, e.Keyword, e.Message)).ToList();
    }

    /// <summary>
    /// The schema object holding <paramref name="keyword"/> that a result node evaluated. The fragment of its schema
    /// location is a pointer from the root of the form's schema (form schemas are self-contained), except that
    /// JsonSchema.Net 8 inserts instance tokens after some applicators (<c>#/properties/lines/items/lines/...</c>):
    /// the pointer is walked knowing which tokens are keywords, names or indices, and a token that is none of them
    /// where a keyword must be is passed over.
    /// </summary>
    private static JsonElement? SchemaObject(JsonElement schema, EvaluationResults node, string keyword)
    {
        var fragment = node.SchemaLocation.Fragment;
        var pointer = Uri.UnescapeDataString(fragment.StartsWith('#') ? fragment[1..] : fragment);
        var current = schema;
        var atSchema = true;
        foreach (var token in pointer.Split('/').Skip(1).Select(Unescape))
        {
            if (atSchema)
            {
                if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(token, out var value))
                {
                    current = value;
                    atSchema = token is not ("properties" or "patternProperties" or "$defs" or "definitions" or "dependentSchemas" or "allOf" or "anyOf" or "oneOf" or "prefixItems");
                }

                continue; // not a member here: a token the evaluation inserted
            }

            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(token, out var member))
            {
                current = member;
            }
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return null;
            }

            atSchema = true;
        }

        return atSchema && current.ValueKind == JsonValueKind.Object && current.TryGetProperty(keyword, out _) ? current : null;
    }

    /// <summary>The value a JSON pointer names in <paramref name="root"/>, or undefined.</summary>
    private static JsonElement At(JsonElement root, string pointer)
    {
        var current = root;
        foreach (var token in pointer.Split('/').Skip(1).Select(Unescape))
        {
            if (current.ValueKind == JsonValueKind.Object && current.TryGetProperty(token, out var next))
            {
                current = next;
            }
            else if (current.ValueKind == JsonValueKind.Array && int.TryParse(token, NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < current.GetArrayLength())
            {
                current = current[index];
            }
            else
            {
                return default;
            }
        }

        return current;
    }

    /// <summary>The JSON type name PostgreSQL's <c>jsonb_typeof</c> gives.</summary>
    private static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => "null",
    };

    private static string Unescape(string token) => token.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);

    private static HashSet<string> LocalIds(JsonElement schema)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        void Collect(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name == "$id" && p.Value.ValueKind == JsonValueKind.String)
                    {
                        ids.Add(p.Value.GetString()!.TrimEnd('#'));
                    }

                    Collect(p.Value);
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    Collect(item);
                }
            }
        }

        Collect(schema);
        return ids;
    }

    /// <summary>Walks schema positions only (member names under "properties" are data, not keywords).</summary>
    private static void Walk(JsonElement schema, string path, List<PliersValidationError> problems, HashSet<string> localIds)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            return;
        }

        foreach (var p in schema.EnumerateObject())
        {
            var here = path + "/" + Escape(p.Name);
            switch (p.Name)
            {
                case "properties" or "patternProperties" or "$defs" or "definitions" or "dependentSchemas" when p.Value.ValueKind == JsonValueKind.Object:
                    foreach (var child in p.Value.EnumerateObject())
                    {
                        Walk(child.Value, here + "/" + Escape(child.Name), problems, localIds);
                    }

                    break;
                case "allOf" or "anyOf" or "oneOf" or "prefixItems" when p.Value.ValueKind == JsonValueKind.Array:
                    var i = 0;
                    foreach (var child in p.Value.EnumerateArray())
                    {
                        Walk(child, $"{here}/{i++}", problems, localIds);
                    }

                    break;
                case "items" or "contains" or "not" or "if" or "then" or "else" or "additionalProperties" or "propertyNames"
                    or "unevaluatedItems" or "unevaluatedProperties" or "contentSchema":
                    Walk(p.Value, here, problems, localIds);
                    break;
                case "$schema" when p.Value.ValueKind == JsonValueKind.String && p.Value.GetString()!.TrimEnd('#') != PliersKeywords.Draft202012:
                    problems.Add(new PliersValidationError(here, p.Name, $"only draft 2020-12 (\"{PliersKeywords.Draft202012}\") is supported, not \"{p.Value.GetString()}\""));
                    break;
                case "$ref" or "$dynamicRef" when p.Value.ValueKind == JsonValueKind.String:
                    var reference = p.Value.GetString()!;
                    var document = reference.Split('#')[0];
                    if (document.Length > 0 && !localIds.Any(id => id.EndsWith(document, StringComparison.Ordinal)))
                    {
                        problems.Add(new PliersValidationError(here, p.Name, $"remote reference \"{reference}\" is not allowed: a form schema must be self-contained"));
                    }

                    break;
                default:
                    if (UnsupportedKeywords.Contains(p.Name))
                    {
                        problems.Add(new PliersValidationError(here, p.Name, $"\"{p.Name}\" is not supported by the database validator"));
                    }

                    break;
            }
        }
    }

    private static string Escape(string name) => name.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);

    private static PliersValidationException Invalid(string message, string path, string keyword, string detail) =>
        new(message, [new PliersValidationError(path, keyword, detail)]);
}
