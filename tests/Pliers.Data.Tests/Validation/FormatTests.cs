using System.Text.Json;
using Json.Schema;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.Validation;
using Formats = Pliers.Data.Validation.Formats;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// The formats both layers assert, through the official suite's <c>optional/format</c> files: JsonSchema.Net with the
/// library's dialect, the database's interpreter and its compiled path, each at least 95% per file, with the same
/// verdict as each other on every case jsonb can hold. The misses are the ones docs/validation.md lists.
/// </summary>
public sealed class FormatTests(PostgresFixture postgres) : IAsyncLifetime
{
    /// <summary>The cases no layer gets right, as "file: group / test" (docs/validation.md names each).</summary>
    internal static readonly string[] KnownMisses = [];

    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private static IEnumerable<(string File, string Case, string Schema, string Data, bool Valid)> Cases(string format)
    {
        var file = Path.Combine(Conformance.Suite, "tests", "draft2020-12", "optional", "format", format + ".json");
        foreach (var group in JsonDocument.Parse(File.ReadAllText(file)).RootElement.EnumerateArray())
        {
            foreach (var test in group.GetProperty("tests").EnumerateArray())
            {
                yield return (format, $"{format}: {group.GetProperty("description").GetString()} / {test.GetProperty("description").GetString()}",
                    group.GetProperty("schema").GetRawText(), test.GetProperty("data").GetRawText(), test.GetProperty("valid").GetBoolean());
            }
        }
    }

    public static TheoryData<string> AssertedFormats() => new(Formats.Asserted);

    [Theory]
    [MemberData(nameof(AssertedFormats))]
    public async Task Both_layers_pass_the_suite_and_agree(string format)
    {
        var s = $"\"{_host.Schema}\"";
        await using var connection = await postgres.OpenAsync();
        var cases = Cases(format).ToArray();
        var misses = new Dictionary<string, List<string>> { ["app"] = [], ["interpreter"] = [], ["compiled"] = [] };
        var disagreements = new List<string>();
        foreach (var (_, name, schemaText, data, valid) in cases)
        {
            var app = SchemaValidator.Build(JsonDocument.Parse(schemaText).RootElement).Evaluate(JsonDocument.Parse(data).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.Flag }).IsValid;
            bool? interpreter = null, compiled = null;
            try
            {
                await using var command = new NpgsqlCommand($"select ({s}._jsv_run(@schema, @data, '{{}}', false) ->> 'ok')::boolean, {s}.jsonb_matches_schema(@schema, @data), {s}._jsv_path(@schema) is not null", connection);
                command.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Jsonb) { Value = schemaText });
                command.Parameters.Add(new NpgsqlParameter("data", NpgsqlDbType.Jsonb) { Value = data });
                await using var reader = await command.ExecuteReaderAsync(Ct);
                await reader.ReadAsync(Ct);
                interpreter = reader.GetBoolean(0);
                compiled = reader.GetBoolean(1);
                Assert.True(reader.GetBoolean(2), $"{format} does not compile to jsonpath at a static location");
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UntranslatableCharacter)
            {
                // \u0000: jsonb cannot hold it, so the database never sees this value
            }

            if (app != valid)
            {
                misses["app"].Add(name);
            }

            if (interpreter is { } i && i != valid)
            {
                misses["interpreter"].Add(name);
            }

            if (compiled is { } c && c != valid)
            {
                misses["compiled"].Add(name);
            }

            if (interpreter is not null && (interpreter != app || compiled != app))
            {
                disagreements.Add($"{name}: app={app} interpreter={interpreter} compiled={compiled} data={data}");
            }
        }

        var report = $"{format}: {cases.Length} cases; app {cases.Length - misses["app"].Count}, interpreter {cases.Length - misses["interpreter"].Count}, compiled {cases.Length - misses["compiled"].Count}"
            + string.Concat(misses.Select(m => m.Value.Count == 0 ? string.Empty : $"\n  {m.Key} misses:\n    " + string.Join("\n    ", m.Value)));
        TestContext.Current.TestOutputHelper?.WriteLine(report);
        Assert.True(disagreements.Count == 0, "The layers disagree:\n" + string.Join("\n", disagreements));
        foreach (var (layer, missed) in misses)
        {
            Assert.True(cases.Length - missed.Count >= cases.Length * 0.95, $"{layer} below 95%: {report}");
            Assert.True(missed.All(KnownMisses.Contains), $"{layer} misses a case docs/validation.md does not list: {report}");
        }
    }
}

/// <summary>The generated half of the database's formats is the one the library generates (no database needed).</summary>
public sealed class FormatTablesTests
{
    [Fact]
    public void The_database_expressions_and_tables_are_the_ones_the_library_generates()
    {
        using var stream = typeof(PliersDataOptions).Assembly.GetManifestResourceStream("Pliers.Data.Validation.formats.sql")!;
        using var reader = new StreamReader(stream);
        var shipped = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
        var generated = Formats.Sql();
        if (generated != shipped)
        {
            var fresh = Path.Combine(Path.GetTempPath(), "formats.sql");
            File.WriteAllText(fresh, generated);
            Assert.Fail($"src/Pliers.Data/Validation/formats.sql differs from Formats.Sql() (written to {fresh}): a changed expression or table ships only with a new migration.");
        }
    }
}
