using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// The official JSON Schema Test Suite (draft 2020-12, non-optional) through the in-database validator.
/// </summary>
public sealed class ConformanceTests(PostgresFixture postgres) : IAsyncLifetime
{
    /// <summary>Keyword files the database validator declares fully supported: every case must pass.</summary>
    internal static readonly string[] Supported =
    [
        "additionalProperties", "allOf", "anchor", "anyOf", "boolean_schema", "const", "contains", "content", "dynamicRef", "refRemote",
        "default", "dependentRequired", "dependentSchemas", "enum", "exclusiveMaximum", "exclusiveMinimum",
        "format", "if-then-else", "infinite-loop-detection", "items", "maxContains", "maxItems", "maxLength",
        "maxProperties", "maximum", "minContains", "minItems", "minLength", "minProperties", "minimum",
        "multipleOf", "not", "oneOf", "pattern", "patternProperties", "prefixItems", "properties",
        "propertyNames", "required", "type", "unevaluatedItems", "unevaluatedProperties", "uniqueItems",
    ];

    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private static string Remotes()
    {
        var root = Path.Combine(Conformance.Suite, "remotes");
        var map = new JsonObject();
        foreach (var file in Directory.EnumerateFiles(root, "*.json", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file).Replace('\\', '/');
            map["http://localhost:1234/" + relative] = JsonNode.Parse(File.ReadAllText(file));
        }

        return map.ToJsonString();
    }

    [Fact]
    public async Task The_official_draft_2020_12_suite_passes()
    {
        var remotes = Remotes();
        var files = Directory.GetFiles(Path.Combine(Conformance.Suite, "tests", "draft2020-12"), "*.json").Order(StringComparer.Ordinal).ToArray();
        await using var connection = await postgres.OpenAsync();
        var total = 0;
        var passed = 0;
        var report = new List<string>();
        var supportedFailures = new List<string>();
        var unrepresentable = new List<string>();
        var asserted = new List<string>();
        var otherFailures = new List<string>();
        foreach (var file in files)
        {
            var keyword = Path.GetFileNameWithoutExtension(file);
            var filePassed = 0;
            var fileTotal = 0;
            foreach (var group in JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateArray())
            {
                var schema = group.GetProperty("schema").GetRawText();
                foreach (var test in group.GetProperty("tests").EnumerateArray())
                {
                    fileTotal++;
                    var expected = test.GetProperty("valid").GetBoolean();
                    bool? actual;
                    try
                    {
                        await using var command = new NpgsqlCommand($"select \"{_host.Schema}\".jsonb_matches_schema(@schema, @data, @remotes)", connection);
                        command.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Jsonb) { Value = schema });
                        command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Jsonb) { Value = test.GetProperty("data").GetRawText() });
                        command.Parameters.Add(new NpgsqlParameter("remotes", NpgsqlDbType.Jsonb) { Value = remotes });
                        actual = (bool?)await command.ExecuteScalarAsync(Ct);
                    }
                    catch (PostgresException e)
                    {
                        actual = null; // a refused schema counts as a failure, never a crash of the run
                        if (connection.State != System.Data.ConnectionState.Open)
                        {
                            throw new InvalidOperationException("The connection broke during the conformance run.", e);
                        }

                        if (e.SqlState == PostgresErrorCodes.UntranslatableCharacter)
                        {
                            // \u0000 in the schema or the data: jsonb itself cannot hold it, so no jsonb
                            // validator can see this case. Counted as a failure, reported apart.
                            unrepresentable.Add($"{keyword}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}");
                        }
                        else if (Supported.Contains(keyword))
                        {
                            supportedFailures.Add($"{keyword}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}: {e.MessageText}");
                        }
                    }

                    if (actual == expected)
                    {
                        filePassed++;
                    }
                    else if (keyword == "format" && test.GetProperty("data").ValueKind == JsonValueKind.String
                        && Pliers.Data.Validation.Formats.IsAsserted(group.GetProperty("schema").GetProperty("format").GetString()!))
                    {
                        // By design (issue 12): the library asserts these formats, where the suite's default is an
                        // annotation. FormatTests runs the optional/format files for them instead.
                        asserted.Add($"{keyword}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}");
                    }
                    else if (actual is not null && Supported.Contains(keyword))
                    {
                        supportedFailures.Add($"{keyword}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}: expected {expected}");
                    }
                    else if (!Supported.Contains(keyword))
                    {
                        otherFailures.Add($"  {keyword}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}: expected {expected}, got {(actual is null ? "an error" : actual.ToString())}");
                    }
                }
            }

            total += fileTotal;
            passed += filePassed;
            report.Add($"{keyword,-32} {filePassed,4}/{fileTotal,-4}{(Supported.Contains(keyword) ? string.Empty : "  (not declared supported)")}");
        }

        report.Add($"{"total",-32} {passed,4}/{total,-4} ({100.0 * passed / total:F1}%)");
        report.Add($"not representable in jsonb (\\u0000), counted as failures: {unrepresentable.Count}");
        report.Add($"format values the library asserts by design (counted as failures): {asserted.Count}");
        report.Add("failures in keyword files not declared supported:");
        report.AddRange(otherFailures);
        var text = string.Join("\n", report);
        TestContext.Current.TestOutputHelper?.WriteLine(text);
        Console.WriteLine("JSON Schema Test Suite, draft 2020-12, in-database validator:\n" + text);

        Assert.True(supportedFailures.Count == 0, "Failures in declared keywords:\n" + string.Join("\n", supportedFailures));
        Assert.True(passed >= total * 0.95, $"{passed}/{total} is below 95%.\n{text}");
    }
}
