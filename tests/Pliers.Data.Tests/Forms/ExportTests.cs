using System.Globalization;
using System.Text;
using System.Text.Json;
using CsvHelper;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>Export of a form's submissions as NDJSON and CSV (issue 14, part 4), through the API and the CLI.</summary>
public sealed class ExportTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Two versions with different properties; hostile text (commas, quotes, newlines, formulas, unicode).</summary>
    private async Task<List<FormSubmission>> SeedAsync()
    {
        var v1 = await Forms.CreateAsync("survey", JsonOf("""{"schema": {"type": "object", "properties": {"name": {"type": "string"}, "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "string"}}}, "tags": {"type": "array"}}}}"""), null, Ct);
        await Forms.PublishAsync(v1.Id, null, Ct);
        var made = new List<FormSubmission>
        {
            await Submissions.CreateAsync("survey", JsonOf("""{"name": "Ada, \"the\" first\nline two", "address": {"city": "Zürich 🏔", "zip": "8001"}, "tags": ["a", 1]}"""), null, Ct),
            await Submissions.CreateAsync("survey", JsonOf("""{"name": "=HYPERLINK(\"x\")"}"""), null, Ct),
        };
        var v2 = await Forms.CreateVersionAsync("survey", JsonOf("""{"schema": {"type": "object", "properties": {"name": {"type": "string"}, "score": {"type": "number"}, "ok": {"type": "boolean"}}}}"""), null, Ct);
        await Forms.PublishAsync(v2.Id, null, Ct);
        made.Add(await Submissions.CreateAsync("survey", JsonOf("""{"name": "  padded  ", "score": 1.50, "ok": true}"""), null, Ct));
        var gone = await Submissions.CreateAsync("survey", JsonOf("""{"name": "deleted"}"""), null, Ct);
        await Submissions.DeleteAsync(gone.Id, null, Ct);
        return made;
    }

    [Fact]
    public async Task Csv_has_metadata_then_one_column_per_property_across_versions_and_round_trips_hostile_text()
    {
        var made = await SeedAsync();
        using var output = new MemoryStream();
        Assert.Equal(3, await Submissions.ExportAsync("survey", SubmissionExportFormat.Csv, output, null, null, Ct));

        var text = Encoding.UTF8.GetString(output.ToArray());
        Assert.False(text.StartsWith('\uFEFF'), "no byte order mark");
        using var reader = new CsvReader(new StringReader(text), CultureInfo.InvariantCulture);
        var rows = new List<string[]>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.Parser.Record!);
        }

        // Properties in the order the stored (jsonb) schema keeps them: by key length, then bytes; version 1 first.
        Assert.Equal(["_id", "_form_version", "_status", "_revision", "_created_at", "_updated_at", "_deleted_at", "name", "tags", "address.zip", "address.city", "ok", "score"], rows[0]);
        var byId = rows.Skip(1).ToDictionary(r => Guid.Parse(r[0]));
        Assert.Equal(3, byId.Count);
        var first = byId[made[0].Id];
        Assert.Equal(["1", "draft", "1"], first[1..4]);
        Assert.Equal(["Ada, \"the\" first\nline two", """["a",1]""", "8001", "Zürich 🏔", "", ""], first[7..]);
        Assert.Equal(["=HYPERLINK(\"x\")", "", "", "", "", ""], byId[made[1].Id][7..]);
        Assert.Equal(["2", "draft", "1"], byId[made[2].Id][1..4]);
        Assert.Equal(["  padded  ", "", "", "", "true", "1.50"], byId[made[2].Id][7..]);
        Assert.Contains("\r\n", text, StringComparison.Ordinal);

        // Filtered like a query; deleted ones only when asked.
        using var filtered = new MemoryStream();
        Assert.Equal(1, await Submissions.ExportAsync("survey", SubmissionExportFormat.Csv, filtered, new SubmissionQuery { DataContains = JsonOf("""{"ok": true}""") }, null, Ct));
        using var all = new MemoryStream();
        Assert.Equal(4, await Submissions.ExportAsync("survey", SubmissionExportFormat.Csv, all, new SubmissionQuery { IncludeDeleted = true }, null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.ExportAsync("nope", SubmissionExportFormat.Csv, new MemoryStream(), null, null, Ct));
    }

    [Fact]
    public async Task Ndjson_is_one_complete_object_per_line_and_the_cli_writes_it_to_a_file_with_progress_on_stderr()
    {
        var made = await SeedAsync();
        using var output = new MemoryStream();
        Assert.Equal(3, await Submissions.ExportAsync("survey", SubmissionExportFormat.Ndjson, output, null, null, Ct));
        var lines = Encoding.UTF8.GetString(output.ToArray()).Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Equal(string.Empty, lines[^1]);
        var objects = lines[..^1].Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(made.Select(m => m.Id).Reverse(), objects.Select(o => o.GetProperty("id").GetGuid())); // newest first
        Assert.True(JsonElement.DeepEquals(made[0].Data, objects[2].GetProperty("data")));
        Assert.Equal("draft", objects[0].GetProperty("status").GetString());

        var file = Path.Combine(Path.GetTempPath(), $"pliers-export-{Guid.NewGuid():N}.ndjson");
        try
        {
            using var stdout = new StringWriter();
            using var stderr = new StringWriter();
            var code = await Pliers.Data.Cli.CliApp.RunAsync(["export", "--form", "survey", "--format", "ndjson", "--out", file, "--connection", postgres.ConnectionString, "--schema", _host.Schema], stdout, stderr, Ct);
            Assert.Equal(0, code);
            Assert.Equal(output.ToArray(), await File.ReadAllBytesAsync(file, Ct));
            Assert.Contains("exported 3 submissions of 'survey' as ndjson", stderr.ToString(), StringComparison.Ordinal);

            using var csvOut = new StringWriter();
            Assert.Equal(0, await Pliers.Data.Cli.CliApp.RunAsync(["export", "--form", "survey", "--format", "csv", "--connection", postgres.ConnectionString, "--schema", _host.Schema], csvOut, TextWriter.Null, Ct));
            Assert.StartsWith("_id,_form_version", csvOut.ToString(), StringComparison.Ordinal);
            Assert.Equal(2, await Pliers.Data.Cli.CliApp.RunAsync(["export", "--form", "survey", "--format", "xml", "--connection", postgres.ConnectionString], TextWriter.Null, TextWriter.Null, Ct));
            Assert.Equal(2, await Pliers.Data.Cli.CliApp.RunAsync(["export", "--format", "csv", "--connection", postgres.ConnectionString], TextWriter.Null, TextWriter.Null, Ct));
        }
        finally
        {
            File.Delete(file);
        }
    }
}
