using System.Text.Json;
using Npgsql;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.Validation;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// For the same invalid document both layers name the same errors: the same JSON pointers and keywords (a missing
/// member at its own path, a failed anyOf/oneOf at its location), the same machine-readable detail and the same
/// message.
/// </summary>
public sealed class ErrorShapeTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Both_layers_name_the_same_pointers_and_keywords()
    {
        var s = $"\"{_host.Schema}\"";
        var compared = 0;
        var errors = 0;
        var differences = new List<string>();
        await using var connection = await postgres.OpenAsync();
        foreach (var (name, schemaText, valid) in FormSchemas.All)
        {
            var built = SchemaValidator.Build(JsonDocument.Parse(schemaText).RootElement);
            foreach (var doc in DifferentialTests.Documents(valid, 7 + name.Length).Distinct().Take(400))
            {
                var result = built.Evaluate(JsonDocument.Parse(doc).RootElement, new Json.Schema.EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
                if (result.IsValid)
                {
                    continue;
                }

                var app = SchemaValidator.DataErrors(result, JsonDocument.Parse(schemaText).RootElement, JsonDocument.Parse(doc).RootElement)
                    .Select(e => $"{e.Path} {e.Keyword} {Canonical(e.Detail)} {e.Message}").Distinct().Order(StringComparer.Ordinal).ToArray();
                await using var command = new NpgsqlCommand($"select path, keyword, detail::text, message from {s}.jsonb_schema_errors(@schema::jsonb, @doc::jsonb)", connection);
                command.Parameters.AddWithValue("schema", schemaText);
                command.Parameters.AddWithValue("doc", doc);
                var db = new List<string>();
                await using (var reader = await command.ExecuteReaderAsync(Ct))
                {
                    while (await reader.ReadAsync(Ct))
                    {
                        db.Add($"{reader.GetString(0)} {reader.GetString(1)} {Canonical(JsonDocument.Parse(reader.GetString(2)).RootElement)} {reader.GetString(3)}");
                    }
                }

                compared++;
                errors += app.Length;
                var database = db.Distinct().Order(StringComparer.Ordinal).ToArray();
                if (!app.SequenceEqual(database))
                {
                    differences.Add($"{name}: app [{string.Join(", ", app)}] database [{string.Join(", ", database)}]: {doc[..Math.Min(200, doc.Length)]}");
                }
            }
        }

        Console.WriteLine($"Error shape: {compared} invalid documents, {errors} errors, {differences.Count} differences");
        Assert.True(compared > 1000, $"only {compared} invalid documents");
        Assert.True(differences.Count == 0, $"{differences.Count} of {compared} differ:\n" + string.Join("\n", differences.Take(25)));
    }

    /// <summary>A schema with every keyword that reports an error, and documents that break each.</summary>
    private const string EveryKeyword =
        """
        {"type": "object", "required": ["id", "kind"], "minProperties": 2, "maxProperties": 12,
         "dependentRequired": {"coupon": ["total"]},
         "propertyNames": {"maxLength": 10},
         "properties": {
           "id": {"type": ["integer", "null"], "minimum": 1, "maximum": 1e3, "exclusiveMinimum": 0.5, "exclusiveMaximum": 1000, "multipleOf": 0.50},
           "kind": {"enum": ["a", 1, {"x": [1, 2.0]}, null]},
           "fixed": {"const": {"v": 1}},
           "name": {"type": "string", "minLength": 2, "maxLength": 5, "pattern": "^\\p{Lu}", "format": "hostname"},
           "when": {"format": "date-time"},
           "tags": {"type": "array", "minItems": 1, "maxItems": 3, "uniqueItems": true, "contains": {"type": "string"}, "maxContains": 1},
           "scores": {"type": "array", "contains": {"minimum": 10}, "minContains": 2},
           "pair": {"type": "array", "prefixItems": [{"type": "string"}], "items": false},
           "choice": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
           "single": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
           "never": false,
           "plain": {"not": {"type": "string"}},
           "nested": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "integer"}}},
           "strict": {"type": "object", "properties": {"a": true}, "unevaluatedProperties": false},
           "list": {"type": "array", "prefixItems": [true], "unevaluatedItems": false},
           "total": {"type": "number"}, "coupon": {"type": "string"}
         }}
        """;

    private static readonly string[] EveryKeywordDocuments =
    [
        """{"id": 0.25, "kind": "b", "fixed": {"v": 2}, "name": "x", "when": "2026-12-31T22:59:60Z", "tags": ["a", "a", "b", "c"], "scores": [1, 20], "pair": ["a", 1], "choice": 1, "single": 1, "never": 1, "plain": "s", "nested": {"b": 1}, "strict": {"a": 1, "b": 2}, "list": [1, 2], "coupon": "c"}""",
        """{"id": 2000, "kind": {"x": [1, 2]}, "name": "abcdefg", "when": "2026-02-30T00:00:00Z", "tags": [], "scores": [], "choice": null, "single": 1.5, "averyveryverylongname": 1}""",
        """{"id": 1.25, "kind": 2, "name": "xn--X", "tags": [1, 1]}""",
        """{"id": "7", "kind": null, "name": "Übung"}""",
        """{"kind": 1}""",
        """[]""",
        """{"id": 1000, "kind": "a", "a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11}""",
    ];

    [Fact]
    public async Task Every_keyword_has_the_same_detail_and_message_in_both_layers()
    {
        var s = $"\"{_host.Schema}\"";
        await using var connection = await postgres.OpenAsync();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var built = SchemaValidator.Build(JsonDocument.Parse(EveryKeyword).RootElement);
        foreach (var doc in EveryKeywordDocuments)
        {
            var result = built.Evaluate(JsonDocument.Parse(doc).RootElement, new Json.Schema.EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            var appErrors = SchemaValidator.DataErrors(result, JsonDocument.Parse(EveryKeyword).RootElement, JsonDocument.Parse(doc).RootElement);
            Assert.All(appErrors, e => Assert.NotNull(e.Detail));
            var app = appErrors.Select(e => $"{e.Path} {e.Keyword} {Canonical(e.Detail)} {e.Message}").Distinct().Order(StringComparer.Ordinal).ToArray();
            await using var command = new NpgsqlCommand($"select path, keyword, detail::text, message from {s}.jsonb_schema_errors(@schema::jsonb, @doc::jsonb)", connection);
            command.Parameters.AddWithValue("schema", EveryKeyword);
            command.Parameters.AddWithValue("doc", doc);
            var db = new List<string>();
            await using (var reader = await command.ExecuteReaderAsync(Ct))
            {
                while (await reader.ReadAsync(Ct))
                {
                    db.Add($"{reader.GetString(0)} {reader.GetString(1)} {Canonical(JsonDocument.Parse(reader.GetString(2)).RootElement)} {reader.GetString(3)}");
                    seen.Add(reader.GetString(1));
                }
            }

            Assert.Equal(db.Distinct().Order(StringComparer.Ordinal).ToArray(), app);
        }

        string[] keywords =
        [
            "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "format",
            "required", "dependentRequired", "minProperties", "maxProperties", "additionalProperties", "propertyNames", "unevaluatedProperties",
            "minItems", "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "false", "anyOf", "oneOf", "not", "unevaluatedItems",
        ];
        Assert.Empty(keywords.Except(seen));
    }

    [Fact]
    public async Task The_full_error_list_reaches_a_caller_without_Include_Error_Detail()
    {
        var s = $"\"{_host.Schema}\"";
        var plain = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { IncludeErrorDetail = false };
        await using var connection = new NpgsqlConnection(plain.ConnectionString);
        await connection.OpenAsync(Ct);
        await using (var define = new NpgsqlCommand($"insert into {s}.form_definitions (name, version, definition, status) values ('every-keyword', 1, jsonb_build_object('schema', @schema::jsonb), 'active')", connection))
        {
            define.Parameters.AddWithValue("schema", EveryKeyword);
            await define.ExecuteNonQueryAsync(Ct);
        }

        var doc = EveryKeywordDocuments[0];
        await using var insert = new NpgsqlCommand($"insert into {s}.form_submissions (form_definition_id, form_version, data) select id, 1, @doc::jsonb from {s}.form_definitions where name = 'every-keyword'", connection);
        insert.Parameters.AddWithValue("doc", doc);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync(Ct));
        Assert.StartsWith("Detail redacted", refused.Detail, StringComparison.Ordinal);

        var translated = Assert.IsType<PliersValidationException>(Pliers.Data.Internal.PostgresErrors.Translate(refused));
        var expected = SchemaValidator.DataErrors(
            SchemaValidator.Build(JsonDocument.Parse(EveryKeyword).RootElement).Evaluate(JsonDocument.Parse(doc).RootElement, new Json.Schema.EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List }),
            JsonDocument.Parse(EveryKeyword).RootElement,
            JsonDocument.Parse(doc).RootElement);
        Assert.True(expected.Count > 15, $"only {expected.Count} errors");
        Assert.Equal(
            expected.Select(e => $"{e.Path} {e.Keyword} {Canonical(e.Detail)} {e.Message}").Distinct().Order(StringComparer.Ordinal),
            translated.Errors.Select(e => $"{e.Path} {e.Keyword} {Canonical(e.Detail)} {e.Message}").Distinct().Order(StringComparer.Ordinal));
        Assert.Contains($"and {translated.Errors.Count - 3} more errors", translated.Message, StringComparison.Ordinal);
    }

    /// <summary>A detail as comparable text: members in name order, numbers as PostgreSQL prints them.</summary>
    private static string Canonical(JsonElement? detail) => detail is { } d ? Canonical(d) : "-";

    private static string Canonical(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "{" + string.Join(",", e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => JsonSerializer.Serialize(p.Name) + ":" + Canonical(p.Value))) + "}",
        JsonValueKind.Array => "[" + string.Join(",", e.EnumerateArray().Select(Canonical)) + "]",
        JsonValueKind.Number => ValidationMessages.PostgresNumber(e.GetRawText()),
        _ => JsonSerializer.Serialize(e),
    };
}
