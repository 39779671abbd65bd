using System.Text.Json;
using Npgsql;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.Validation;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// For the same invalid document both layers name the same errors: the same JSON pointers and keywords (a missing
/// member at its own path, a failed anyOf/oneOf at its location).
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

                var app = SchemaValidator.DataErrors(result).Select(e => $"{e.Path} {e.Keyword}").Order(StringComparer.Ordinal).ToArray();
                await using var command = new NpgsqlCommand($"select path, keyword from {s}.jsonb_schema_errors(@schema::jsonb, @doc::jsonb)", connection);
                command.Parameters.AddWithValue("schema", schemaText);
                command.Parameters.AddWithValue("doc", doc);
                var db = new List<string>();
                await using (var reader = await command.ExecuteReaderAsync(Ct))
                {
                    while (await reader.ReadAsync(Ct))
                    {
                        db.Add($"{reader.GetString(0)} {reader.GetString(1)}");
                    }
                }

                compared++;
                var database = db.Distinct().Order(StringComparer.Ordinal).ToArray();
                if (!app.SequenceEqual(database))
                {
                    differences.Add($"{name}: app [{string.Join(", ", app)}] database [{string.Join(", ", database)}]: {doc[..Math.Min(200, doc.Length)]}");
                }
            }
        }

        Console.WriteLine($"Error shape: {compared} invalid documents, {differences.Count} differences");
        Assert.True(compared > 1000, $"only {compared} invalid documents");
        Assert.True(differences.Count == 0, $"{differences.Count} of {compared} differ:\n" + string.Join("\n", differences.Take(25)));
    }
}
