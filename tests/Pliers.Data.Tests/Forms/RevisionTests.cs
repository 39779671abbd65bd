using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>Submission revisions (issue 14, part 1): history kept by the database in the update statement itself.</summary>
public sealed class RevisionTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<FormDefinition> PublishAsync(string name, string schemaJson)
    {
        var draft = await Forms.CreateAsync(name, JsonOf($$"""{"schema": {{schemaJson}}}"""), null, Ct);
        return await Forms.PublishAsync(draft.Id, null, Ct);
    }

    [Fact]
    public async Task Every_data_change_keeps_the_replaced_revision_with_its_context_and_the_diff_is_a_json_patch()
    {
        await PublishAsync("claim", """{"type": "object", "properties": {"amount": {"type": "number"}, "items": {"type": "array"}, "note": {"type": "string"}}}""");
        var created = await Submissions.CreateAsync("claim", JsonOf("""{"amount": 10, "items": ["a", "b", "c"], "note": "first", "a/b~c": 1}"""), new EventContext(Guid.NewGuid()), Ct);
        Assert.Equal(1, created.Revision);
        var second = new EventContext(Guid.NewGuid(), Guid.NewGuid());
        var v2 = await Submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"amount": 12.5, "items": ["a", "x"], "a/b~c": 1, "extra": {"k": null}}"""), second, Ct);
        Assert.Equal(2, v2.Revision);
        var v3 = await Submissions.UpdateDataAsync(v2.Id, v2.RowVersion, JsonOf("""{"amount": 12.5, "items": ["a", "x", "y"], "a/b~c": 2, "extra": {"k": "ü ✓ 😀"}}"""), null, Ct);
        Assert.Equal(3, v3.Revision);

        var revisions = await Submissions.ListRevisionsAsync(created.Id, Ct);
        Assert.Equal([1, 2, 3], revisions.Select(r => r.Revision));
        Assert.Equal("first", revisions[0].Data.GetProperty("note").GetString());
        Assert.Equal(second.CorrelationId, revisions[1].CorrelationId);
        Assert.Equal(second.CausationId, revisions[1].CausationId);
        Assert.True(JsonElement.DeepEquals(v3.Data, revisions[2].Data));
        Assert.True(revisions[0].CreatedAt <= revisions[1].CreatedAt && revisions[1].CreatedAt <= revisions[2].CreatedAt);
        Assert.Equal(2, (await Submissions.GetRevisionAsync(created.Id, 2, Ct))!.Revision);
        Assert.Null(await Submissions.GetRevisionAsync(created.Id, 4, Ct));
        Assert.Null(await Submissions.GetRevisionAsync(Guid.NewGuid(), 1, Ct));

        var patch = await Submissions.DiffRevisionsAsync(created.Id, 1, 2, Ct);
        Assert.Equal(
            // jsonb keeps object members ordered by key length, then bytes: note, a/b~c, items, amount.
            """[{"op":"remove","path":"/note"},{"op":"replace","path":"/items/1","value":"x"},{"op":"remove","path":"/items/2"},{"op":"replace","path":"/amount","value":12.5},{"op":"add","path":"/extra","value":{"k":null}}]""",
            patch.GetRawText());
        Assert.Contains("/a~1b~0c", (await Submissions.DiffRevisionsAsync(created.Id, 2, 3, Ct)).GetRawText(), StringComparison.Ordinal);
        Assert.Equal("[]", (await Submissions.DiffRevisionsAsync(created.Id, 3, 3, Ct)).GetRawText());
        foreach (var (from, to) in new[] { (1, 2), (2, 3), (1, 3), (3, 1), (2, 1) })
        {
            var applied = Apply(revisions[from - 1].Data, await Submissions.DiffRevisionsAsync(created.Id, from, to, Ct));
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(revisions[to - 1].Data.GetRawText()), applied), $"{from} -> {to}");
        }

        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.DiffRevisionsAsync(created.Id, 1, 9, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.ListRevisionsAsync(Guid.NewGuid(), Ct));

        // The update event names the revision it made.
        var events = new List<StoredEvent>();
        await foreach (var e in _host.Services.GetRequiredService<IEventStore>().ReadStreamAsync(created.Id, 1, Ct))
        {
            events.Add(e);
        }

        Assert.Equal([null, 2, 3], events.Select(e => e.EventType == PliersEventTypes.SubmissionUpdated ? e.GetData<FormSubmissionUpdated>()!.Revision : null));
    }

    [Fact]
    public async Task A_stale_update_is_refused_and_leaves_no_revision_and_a_racing_pair_makes_exactly_one()
    {
        await PublishAsync("race", """{"type": "object"}""");
        var created = await Submissions.CreateAsync("race", JsonOf("""{"n": 0}"""), null, Ct);
        var first = await Submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"n": 1}"""), null, Ct);
        await Assert.ThrowsAsync<PliersConcurrencyException>(() => Submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"n": 99}"""), null, Ct));
        Assert.Equal(2, (await Submissions.ListRevisionsAsync(created.Id, Ct)).Count);

        // Two updates that read the same row version, released together: one wins, one is told, one revision more.
        var barrier = new AsyncBarrier(2);
        var outcomes = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => Task.Run(async () =>
        {
            await barrier.SignalAndWaitAsync(Ct);
            try
            {
                await Submissions.UpdateDataAsync(first.Id, first.RowVersion, JsonOf($$"""{"n": {{10 + i}}}"""), null, Ct);
                return "won";
            }
            catch (PliersConcurrencyException)
            {
                return "stale";
            }
        }, Ct)));
        Assert.Equal(["stale", "won"], outcomes.Order());
        var revisions = await Submissions.ListRevisionsAsync(created.Id, Ct);
        Assert.Equal([1, 2, 3], revisions.Select(r => r.Revision));
        Assert.Equal([0, 1], revisions.Take(2).Select(r => r.Data.GetProperty("n").GetInt32()));
    }

    [Fact]
    public async Task An_edit_validates_against_the_submissions_own_form_version_after_a_new_version_is_active()
    {
        var v1 = await PublishAsync("versioned", """{"type": "object", "properties": {"age": {"type": "integer"}}}""");
        var created = await Submissions.CreateAsync("versioned", JsonOf("""{"age": 30}"""), null, Ct);
        var v2 = await Forms.CreateVersionAsync("versioned", JsonOf("""{"schema": {"type": "object", "required": ["email"], "properties": {"age": {"type": "string"}}}}"""), null, Ct);
        await Forms.PublishAsync(v2.Id, null, Ct);

        var edited = await Submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"age": 31}"""), null, Ct);
        Assert.Equal(v1.Id, edited.FormDefinitionId);
        Assert.Equal(2, edited.Revision);
        var invalid = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.UpdateDataAsync(edited.Id, edited.RowVersion, JsonOf("""{"age": "thirty"}"""), null, Ct));
        Assert.Contains(invalid.Errors, e => e.Path == "/age" && e.Keyword == "type");
        Assert.Equal(2, (await Submissions.ListRevisionsAsync(created.Id, Ct)).Count);
    }

    [Fact]
    public async Task Revisions_are_immutable_in_the_database()
    {
        await PublishAsync("frozen", """{"type": "object"}""");
        var created = await Submissions.CreateAsync("frozen", JsonOf("""{"n": 0}"""), null, Ct);
        await Submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"n": 1}"""), null, Ct);
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($"update \"{_host.Schema}\".form_submission_revisions set data = '{{}}'"));
        Assert.Equal(PostgresErrorCodes.RestrictViolation, error.SqlState);
        Assert.Equal("form_submission_revisions_immutable", error.ConstraintName);
    }

    /// <summary>Applies an RFC 6902 patch of add/remove/replace operations (what the library produces).</summary>
    private static JsonNode? Apply(JsonElement document, JsonElement patch)
    {
        var root = JsonNode.Parse(document.GetRawText());
        foreach (var op in patch.EnumerateArray())
        {
            var path = op.GetProperty("path").GetString()!;
            var value = op.TryGetProperty("value", out var v) ? JsonNode.Parse(v.GetRawText()) : null;
            if (path.Length == 0)
            {
                root = value;
                continue;
            }

            var tokens = path[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();
            var parent = tokens[..^1].Aggregate(root!, (node, token) => node is JsonArray array ? array[int.Parse(token, System.Globalization.CultureInfo.InvariantCulture)]! : node[token]!);
            var last = tokens[^1];
            switch (op.GetProperty("op").GetString(), parent)
            {
                case ("remove", JsonArray array): array.RemoveAt(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)); break;
                case ("remove", JsonObject obj): obj.Remove(last); break;
                case ("add", JsonArray array): array.Insert(int.Parse(last, System.Globalization.CultureInfo.InvariantCulture), value); break;
                case ("replace", JsonArray array): array[int.Parse(last, System.Globalization.CultureInfo.InvariantCulture)] = value; break;
                case (_, JsonObject obj): obj[last] = value; break;
                default: throw new InvalidOperationException(path);
            }
        }

        return root;
    }
}
