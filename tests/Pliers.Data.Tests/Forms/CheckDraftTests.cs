using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>Check before publish (issue 14, part 5): which stored submissions a draft's schema would refuse.</summary>
public sealed class CheckDraftTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task A_draft_lists_the_stored_submissions_it_would_refuse_paged_with_every_error()
    {
        var v1 = await Forms.CreateAsync("signup", JsonOf("""{"schema": {"type": "object", "properties": {"age": {"type": "integer"}, "email": {"type": "string"}}}}"""), null, Ct);
        await Forms.PublishAsync(v1.Id, null, Ct);
        var failing = new List<Guid>();
        for (var i = 0; i < 25; i++)
        {
            // every third lacks an email; every fifth is under 18 (both: two errors)
            var email = i % 3 == 0 ? "" : $$""", "email": "u{{i}}@example.org" """;
            var s = await Submissions.CreateAsync("signup", JsonOf($$"""{"age": {{(i % 5 == 0 ? 12 : 30)}}{{email}}}"""), null, Ct);
            if (i % 3 == 0 || i % 5 == 0)
            {
                failing.Add(s.Id);
            }
        }

        var deleted = await Submissions.CreateAsync("signup", JsonOf("""{"age": 1}"""), null, Ct);
        await Submissions.DeleteAsync(deleted.Id, null, Ct);
        var draft = await Forms.CreateVersionAsync("signup", JsonOf("""{"schema": {"type": "object", "required": ["email"], "properties": {"age": {"type": "integer", "minimum": 18}, "email": {"type": "string", "format": "email"}}}}"""), null, Ct);

        var found = new List<DraftCheckFailure>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await Forms.CheckDraftAsync(draft.Id, cursor, 4, Ct);
            Assert.True(page.Items.Count <= 4);
            found.AddRange(page.Items);
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(failing.Count, found.Count);
        Assert.Equal(failing.ToHashSet(), found.Select(f => f.SubmissionId).ToHashSet());
        Assert.True(pages >= 3);
        var both = found.Single(f => f.SubmissionId == failing[0]); // i = 0: no email and age 12
        Assert.Equal(["/age minimum", "/email required"], both.Errors.Select(e => $"{e.Path} {e.Keyword}").Order());
        Assert.Equal(18, both.Errors.Single(e => e.Keyword == "minimum").Detail!.Value.GetProperty("limit").GetInt32());

        // The CLI says the same and exits 1; a draft that accepts everything exits 0.
        using var output = new StringWriter();
        Assert.Equal(1, await Pliers.Data.Cli.CliApp.RunAsync(["check-draft", "--form", "signup", "--connection", postgres.ConnectionString, "--schema", _host.Schema], output, TextWriter.Null, Ct));
        Assert.Contains($"draft signup v2 against the submissions of v1: {failing.Count} would not validate", output.ToString(), StringComparison.Ordinal);
        await Forms.UpdateDraftAsync(draft.Id, draft.RowVersion, JsonOf("""{"schema": {"type": "object"}}"""), null, Ct);
        Assert.Empty((await Forms.CheckDraftAsync(draft.Id, null, 50, Ct)).Items);
        Assert.Equal(0, await Pliers.Data.Cli.CliApp.RunAsync(["check-draft", "--form", "signup", "--connection", postgres.ConnectionString, "--schema", _host.Schema], TextWriter.Null, TextWriter.Null, Ct));

        await Assert.ThrowsAsync<PliersNotFoundException>(() => Forms.CheckDraftAsync(v1.Id, null, 50, Ct));
        await Assert.ThrowsAsync<ArgumentException>(() => Forms.CheckDraftAsync(draft.Id, "tampered", 50, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Forms.CheckDraftAsync(draft.Id, null, 0, Ct));
    }
}
