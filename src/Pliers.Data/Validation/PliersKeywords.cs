using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Json.Schema;
using Json.Schema.Keywords;

namespace Pliers.Data.Validation;

/// <summary>
/// The keywords where JsonSchema.Net 8 departs from the specification, replaced in the dialect the library builds
/// schemas with (never globally): <c>pattern</c> and <c>patternProperties</c> follow ECMA-262 with the <c>u</c> flag
/// (<see cref="EcmaPattern"/>), <c>minLength</c>/<c>maxLength</c> count code points (JsonSchema.Net counts grapheme
/// clusters), and <c>type</c> (integer), <c>enum</c>, <c>const</c> and <c>uniqueItems</c> compare numbers exactly
/// (<see cref="JsonValues"/>; JsonSchema.Net goes through <see cref="decimal"/>, which rounds long fractions and throws
/// beyond its range). The database layer follows the same rules.
/// </summary>
internal static class PliersKeywords
{
    /// <summary>The meta-schema URI of draft 2020-12, the only dialect form schemas may declare.</summary>
    public const string Draft202012 = "https://json-schema.org/draft/2020-12/schema";

    /// <summary>Draft 2020-12 with the keywords above replaced.</summary>
    public static readonly Dialect Dialect = Dialect.Draft202012.With(
        [
            new EcmaPatternKeyword(), new EcmaPatternPropertiesKeyword(), new EcmaAdditionalPropertiesKeyword(), new CodePointMinLengthKeyword(), new CodePointMaxLengthKeyword(),
            new ExactTypeKeyword(), new ExactEnumKeyword(), new ExactConstKeyword(), new ExactUniqueItemsKeyword(), new MemberRequiredKeyword(), new MemberDependentRequiredKeyword(),
            new AssertedFormatKeyword(), new PrefixAwareItemsKeyword(),
        ],
        new Uri(Draft202012));

    /// <summary>Resolves a schema's <c>$schema: draft 2020-12</c> to <see cref="Dialect"/> rather than JsonSchema.Net's own.</summary>
    public static readonly DialectRegistry Dialects = CreateRegistry();

    private static DialectRegistry CreateRegistry()
    {
        var registry = new DialectRegistry();
        registry.Register(Dialect);
        return registry;
    }

    /// <summary>The .NET regex for an ECMA-262 pattern (cached: schemas share patterns).</summary>
    public static Regex Regex(string pattern)
    {
        if (Cache.Count > 10_000)
        {
            Cache.Clear();
        }

        return Cache.GetOrAdd(pattern, static p => Build(p));
    }

    private static Regex Build(string p)
    {
        string translated;
        try
        {
            translated = EcmaPattern.Translate(p, EcmaPattern.Target.DotNet);
        }
        catch (ArgumentException e)
        {
            throw new JsonSchemaException($"\"{p}\" is not a valid ECMA-262 regular expression: {e.Message}");
        }

        // A match timeout bounds catastrophic backtracking ("^(a+)+$"); the value is then refused. .NET's
        // non-backtracking engine would be linear, but in .NET 10 it misses a final "\n" before \z in patterns with
        // large classes (found by PatternDialectTests), so it is not used.
        return new Regex(translated, RegexOptions.CultureInvariant, MatchTimeout);
    }

    /// <summary>The longest a backtracking pattern may take on one value before the value is refused.</summary>
    internal static readonly TimeSpan MatchTimeout = TimeSpan.FromSeconds(2);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Regex> Cache = new(StringComparer.Ordinal);

    /// <summary>The number of Unicode code points in <paramref name="text"/> (JSON Schema's string length).</summary>
    public static long CodePoints(string text)
    {
        long count = text.Length;
        for (var i = 0; i + 1 < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && char.IsLowSurrogate(text[i + 1]))
            {
                count--;
                i++;
            }
        }

        return count;
    }

    private sealed class EcmaPatternKeyword : PatternKeyword
    {
        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.String
                ? Regex(value.GetString()!)
                : throw new JsonSchemaException($"\"pattern\" must be a string, not {value.ValueKind}.");
    }

    private sealed class EcmaPatternPropertiesKeyword : PatternPropertiesKeyword
    {
        public override object? ValidateKeywordValue(JsonElement value)
        {
            if (value.ValueKind != JsonValueKind.Object)
            {
                throw new JsonSchemaException($"\"patternProperties\" must be an object, not {value.ValueKind}.");
            }

            return value.EnumerateObject().ToDictionary(p => p.Name, p => Regex(p.Name), StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// JsonSchema.Net's own builds a .NET regex (ECMAScript option) of every patternProperties key, only to refuse the
    /// ones .NET cannot parse (<c>\p{Letter}</c>); which members the patterns cover comes from patternProperties'
    /// annotation either way. This one keeps that evaluation and leaves the patterns to patternProperties.
    /// </summary>
    private sealed class EcmaAdditionalPropertiesKeyword : AdditionalPropertiesKeyword
    {
        public override void BuildSubschemas(KeywordData keyword, BuildContext context)
        {
            keyword.Subschemas = [JsonSchema.BuildNode(context with { LocalSchema = keyword.RawValue })];
            keyword.Value = context.LocalSchema.TryGetProperty("properties", out var properties) && properties.ValueKind == JsonValueKind.Object
                ? properties.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal)
                : new HashSet<string>(StringComparer.Ordinal);
        }

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            if (context.Instance.ValueKind != JsonValueKind.Object)
            {
                return KeywordEvaluation.Ignore;
            }

            var declared = (HashSet<string>)keyword.Value!;
            var byPatterns = new HashSet<string>(StringComparer.Ordinal);
            foreach (var evaluated in context.EvaluatedKeywords ?? [])
            {
                if (evaluated.Keyword == "patternProperties" && evaluated.Annotation is { ValueKind: JsonValueKind.Array } names)
                {
                    byPatterns.UnionWith(names.EnumerateArray().Select(n => n.GetString()!));
                }
            }

            var results = new List<EvaluationResults>();
            var failed = new List<string>();
            var path = context.EvaluationPath.Combine(Name);
            foreach (var member in context.Instance.EnumerateObject())
            {
                if (declared.Contains(member.Name) || byPatterns.Contains(member.Name))
                {
                    continue;
                }

                var result = keyword.Subschemas[0].Evaluate(context with
                {
                    InstanceLocation = context.InstanceLocation.Combine(member.Name),
                    Instance = member.Value,
                    EvaluationPath = path,
                });
                results.Add(result);
                if (!result.IsValid)
                {
                    failed.Add(member.Name);
                    if (context.CanOptimize)
                    {
                        return new KeywordEvaluation { Keyword = Name, IsValid = false };
                    }
                }
            }

            return new KeywordEvaluation
            {
                Keyword = Name,
                IsValid = failed.Count == 0,
                Details = [.. results],
                Annotation = JsonSerializer.SerializeToElement(true),
                // No error of its own: each refused member carries its error at its own path, as in the database layer.
                Error = null,
            };
        }
    }

    /// <summary>
    /// <c>items</c> after <c>prefixItems</c>: JsonSchema.Net 8 applies it to the right items but reports them at the
    /// wrong places (the first item after the prefix as <c>/0</c>); this one names each item by its own index.
    /// </summary>
    private sealed class PrefixAwareItemsKeyword : ItemsKeyword
    {
        public override void BuildSubschemas(KeywordData keyword, BuildContext context)
        {
            base.BuildSubschemas(keyword, context);
            keyword.Value = context.LocalSchema.TryGetProperty("prefixItems", out var prefix) && prefix.ValueKind == JsonValueKind.Array ? prefix.GetArrayLength() : 0;
        }

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            if (context.Instance.ValueKind != JsonValueKind.Array)
            {
                return KeywordEvaluation.Ignore;
            }

            var start = (int)keyword.Value!;
            var path = context.EvaluationPath.Combine(Name);
            var results = new List<EvaluationResults>();
            var index = 0;
            foreach (var item in context.Instance.EnumerateArray())
            {
                if (index >= start)
                {
                    var result = keyword.Subschemas[0].Evaluate(context with { InstanceLocation = context.InstanceLocation.Combine(index), Instance = item, EvaluationPath = path });
                    results.Add(result);
                    if (!result.IsValid && context.CanOptimize)
                    {
                        return new KeywordEvaluation { Keyword = Name, IsValid = false };
                    }
                }

                index++;
            }

            return new KeywordEvaluation { Keyword = Name, IsValid = results.All(r => r.IsValid), Details = [.. results], Annotation = JsonSerializer.SerializeToElement(true) };
        }
    }

    private sealed class ExactTypeKeyword : LeafKeyword
    {
        public override string Name => "type";

        private static readonly string[] Names = ["null", "boolean", "object", "array", "number", "string", "integer"];

        public override object? ValidateKeywordValue(JsonElement value)
        {
            var types = value.ValueKind == JsonValueKind.Array ? value.EnumerateArray().ToArray() : [value];
            if (types.Length == 0 || types.Any(t => t.ValueKind != JsonValueKind.String || !Names.Contains(t.GetString())))
            {
                throw new JsonSchemaException("\"type\" must be one of the type names or a non-empty array of them.");
            }

            return types.Select(t => t.GetString()!).ToArray();
        }

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            var allowed = (string[])keyword.Value!;
            var instance = context.Instance;
            var actual = instance.ValueKind switch
            {
                JsonValueKind.Null => "null",
                JsonValueKind.True or JsonValueKind.False => "boolean",
                JsonValueKind.Object => "object",
                JsonValueKind.Array => "array",
                JsonValueKind.String => "string",
                _ => JsonValues.IsInteger(instance) ? "integer" : "number",
            };
            var valid = allowed.Contains(actual) || (actual == "integer" && allowed.Contains("number"));
            return Result(valid ? null : $"Value is \"{actual}\" but should be {string.Join(" or ", allowed.Select(a => $"\"{a}\""))}");
        }
    }

    /// <summary>A keyword without subschemas, valid unless it names an error.</summary>
    private abstract class LeafKeyword : IKeywordHandler
    {
        public abstract string Name { get; }

        public abstract object? ValidateKeywordValue(JsonElement value);

        public void BuildSubschemas(KeywordData keyword, BuildContext context)
        {
        }

        public abstract KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context);

        protected KeywordEvaluation Result(string? error) => new() { Keyword = Name, IsValid = error is null, Error = error };
    }

    /// <summary>The missing names of a failed <c>required</c>, as its error (a JSON array), for one error per member.</summary>
    internal const string RequiredPrefix = "missing: ";

    private sealed class MemberRequiredKeyword : LeafKeyword
    {
        public override string Name => "required";

        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String)
                ? value.EnumerateArray().Select(v => v.GetString()!).Distinct(StringComparer.Ordinal).ToArray()
                : throw new JsonSchemaException("\"required\" must be an array of strings.");

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            if (context.Instance.ValueKind != JsonValueKind.Object)
            {
                return Result(null);
            }

            var instance = context.Instance;
            var missing = ((string[])keyword.Value!).Where(name => !instance.TryGetProperty(name, out _)).ToArray();
            return Result(missing.Length == 0 ? null : RequiredPrefix + JsonSerializer.Serialize(missing));
        }
    }

    /// <summary>The indices of the first two equal items of a failed <c>uniqueItems</c>, as its error (a JSON array).</summary>
    internal const string DuplicatesPrefix = "duplicates: ";

    /// <summary>The missing names of a failed <c>dependentRequired</c> with the member that requires them (a JSON object).</summary>
    internal const string DependentRequiredPrefix = "missing when present: ";

    private sealed class MemberDependentRequiredKeyword : LeafKeyword
    {
        public override string Name => "dependentRequired";

        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.Object && value.EnumerateObject().All(p => p.Value.ValueKind == JsonValueKind.Array && p.Value.EnumerateArray().All(v => v.ValueKind == JsonValueKind.String))
                ? value.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.EnumerateArray().Select(v => v.GetString()!).Distinct(StringComparer.Ordinal).ToArray(), StringComparer.Ordinal)
                : throw new JsonSchemaException("\"dependentRequired\" must be an object of arrays of strings.");

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            if (context.Instance.ValueKind != JsonValueKind.Object)
            {
                return Result(null);
            }

            var instance = context.Instance;
            var missing = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (present, required) in (Dictionary<string, string[]>)keyword.Value!)
            {
                if (instance.TryGetProperty(present, out _))
                {
                    foreach (var name in required.Where(name => !instance.TryGetProperty(name, out _)))
                    {
                        missing.TryAdd(name, present);
                    }
                }
            }

            return Result(missing.Count == 0 ? null : DependentRequiredPrefix + JsonSerializer.Serialize(missing));
        }
    }

    /// <summary><c>format</c>: the formats of <see cref="Formats"/> are asserted, any other stays an annotation.</summary>
    private sealed class AssertedFormatKeyword : LeafKeyword
    {
        public override string Name => "format";

        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.String ? value.GetString() : throw new JsonSchemaException("\"format\" must be a string.");

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            var format = (string)keyword.Value!;
            var valid = context.Instance.ValueKind != JsonValueKind.String || Formats.Check(format, context.Instance.GetString()!);
            return new KeywordEvaluation { Keyword = Name, IsValid = valid, Error = valid ? null : $"is not a valid {format}", Annotation = keyword.RawValue };
        }
    }

    private sealed class ExactEnumKeyword : LeafKeyword
    {
        public override string Name => "enum";

        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind == JsonValueKind.Array ? null : throw new JsonSchemaException("\"enum\" must be an array.");

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            var instance = context.Instance;
            var valid = keyword.RawValue.EnumerateArray().Any(option => JsonValues.Equal(option, instance));
            return Result(valid ? null : $"Value should match one of the values specified by the enum: {keyword.RawValue.GetRawText()}");
        }
    }

    private sealed class ExactConstKeyword : LeafKeyword
    {
        public override string Name => "const";

        public override object? ValidateKeywordValue(JsonElement value) => null;

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            var valid = JsonValues.Equal(keyword.RawValue, context.Instance);
            return Result(valid ? null : $"Expected {keyword.RawValue.GetRawText()}");
        }
    }

    private sealed class ExactUniqueItemsKeyword : UniqueItemsKeyword
    {
        public override object? ValidateKeywordValue(JsonElement value) =>
            value.ValueKind is JsonValueKind.True or JsonValueKind.False ? value.ValueKind == JsonValueKind.True : throw new JsonSchemaException("\"uniqueItems\" must be a boolean.");

        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context)
        {
            if (keyword.Value is not true || context.Instance.ValueKind != JsonValueKind.Array)
            {
                return new KeywordEvaluation { Keyword = Name, IsValid = true };
            }

            var items = context.Instance.EnumerateArray().ToArray();
            for (var i = 0; i < items.Length; i++)
            {
                for (var j = i + 1; j < items.Length; j++)
                {
                    if (JsonValues.Equal(items[i], items[j]))
                    {
                        return new KeywordEvaluation { Keyword = Name, IsValid = false, Error = DuplicatesPrefix + $"[{i},{j}]" };
                    }
                }
            }

            return new KeywordEvaluation { Keyword = Name, IsValid = true };
        }
    }

    private sealed class CodePointMinLengthKeyword : MinLengthKeyword
    {
        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context) =>
            Length(keyword, context, Name, (length, limit) => length >= limit, "at least");
    }

    private sealed class CodePointMaxLengthKeyword : MaxLengthKeyword
    {
        public override KeywordEvaluation Evaluate(KeywordData keyword, EvaluationContext context) =>
            Length(keyword, context, Name, (length, limit) => length <= limit, "at most");
    }

    private static KeywordEvaluation Length(KeywordData keyword, EvaluationContext context, string name, Func<long, long, bool> ok, string bound)
    {
        if (context.Instance.ValueKind != JsonValueKind.String)
        {
            return new KeywordEvaluation { Keyword = name, IsValid = true };
        }

        var limit = Convert.ToInt64(keyword.Value, CultureInfo.InvariantCulture);
        var length = CodePoints(context.Instance.GetString()!);
        var valid = ok(length, limit);
        return new KeywordEvaluation
        {
            Keyword = name,
            IsValid = valid,
            Error = valid ? null : string.Create(CultureInfo.InvariantCulture, $"must be {bound} {limit} characters long (is {length})"),
        };
    }
}
