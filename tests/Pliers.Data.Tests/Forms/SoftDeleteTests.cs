using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>Soft delete, restore and purge of submissions, and deleting drafts (issue 14, part 2).</summary>
public sealed class SoftDeleteTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<List<string>> EventTypesAsync(Guid id)
    {
        var types = new List<string>();
        await foreach (var e in _host.Services.GetRequiredService<IEventStore>().ReadStreamAsync(id, 1, Ct))
        {
            types.Add(e.EventType);
        }

        return types;
    }

    [Fact]
    public async Task A_deleted_submission_is_hidden_everywhere_until_restored_and_cannot_be_changed()
    {
        var draft = await Forms.CreateAsync("bin", JsonOf("""{"schema": {"type": "object"}}"""), null, Ct);
        await Forms.PublishAsync(draft.Id, null, Ct);
        var kept = await Submissions.CreateAsync("bin", JsonOf("""{"n": 1}"""), null, Ct);
        var doomed = await Submissions.CreateAsync("bin", JsonOf("""{"n": 2}"""), null, Ct);
        await Submissions.UpdateDataAsync(doomed.Id, doomed.RowVersion, JsonOf("""{"n": 3}"""), null, Ct);

        var deleted = await Submissions.DeleteAsync(doomed.Id, null, Ct);
        Assert.NotNull(deleted.DeletedAt);
        var query = new SubmissionQuery { FormName = "bin" };
        Assert.Null(await Submissions.GetByIdAsync(doomed.Id, Ct));
        Assert.Equal([kept.Id], (await Submissions.QueryAsync(query, Ct)).Items.Select(s => s.Id));
        Assert.Equal(1, await Submissions.CountAsync(query, Ct));
        Assert.Equal([kept.Id], await TestJson.ToListAsync(Submissions.StreamAsync(query, Ct)).ContinueWith(t => t.Result.Select(s => s.Id).ToList(), Ct));
        Assert.Null(await Submissions.GetRevisionAsync(doomed.Id, 1, Ct));
        var withDeleted = await Submissions.QueryAsync(query with { IncludeDeleted = true }, Ct);
        Assert.Equal(2, withDeleted.Items.Count);
        Assert.NotNull(withDeleted.Items.Single(s => s.Id == doomed.Id).DeletedAt);
        Assert.Equal(2, await Submissions.CountAsync(query with { IncludeDeleted = true }, Ct));

        var again = await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.DeleteAsync(doomed.Id, null, Ct));
        Assert.Equal("form_submissions_deleted", again.Rule);
        var change = await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.ChangeStatusAsync(doomed.Id, deleted.RowVersion, SubmissionStatus.Submitted, null, Ct));
        Assert.Equal("form_submissions_deleted", change.Rule);
        await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.UpdateDataAsync(doomed.Id, deleted.RowVersion, JsonOf("""{"n": 4}"""), null, Ct));
        var notDeleted = await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.RestoreAsync(kept.Id, null, Ct));
        Assert.Equal("form_submissions_not_deleted", notDeleted.Rule);
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.DeleteAsync(Guid.NewGuid(), null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.RestoreAsync(Guid.NewGuid(), null, Ct));

        var restored = await Submissions.RestoreAsync(doomed.Id, null, Ct);
        Assert.Null(restored.DeletedAt);
        Assert.Equal(3, restored.Data.GetProperty("n").GetInt32());
        Assert.Equal(2, (await Submissions.ListRevisionsAsync(doomed.Id, Ct)).Count);
        Assert.Equal(2, await Submissions.CountAsync(query, Ct));
        Assert.Equal(
            [PliersEventTypes.SubmissionCreated, PliersEventTypes.SubmissionUpdated, PliersEventTypes.SubmissionDeleted, PliersEventTypes.SubmissionRestored],
            await EventTypesAsync(doomed.Id));
    }

    [Fact]
    public async Task Purge_removes_deleted_submissions_and_their_revisions_for_good_with_a_data_free_event_each()
    {
        var draft = await Forms.CreateAsync("purge", JsonOf("""{"schema": {"type": "object"}}"""), null, Ct);
        await Forms.PublishAsync(draft.Id, null, Ct);
        var live = await Submissions.CreateAsync("purge", JsonOf("""{"secret": "keep"}"""), null, Ct);
        var old = new List<Guid>();
        for (var i = 0; i < 3; i++)
        {
            var s = await Submissions.CreateAsync("purge", JsonOf($$"""{"secret": "personal {{i}}"}"""), null, Ct);
            await Submissions.UpdateDataAsync(s.Id, s.RowVersion, JsonOf("""{"secret": "edited"}"""), null, Ct);
            await Submissions.DeleteAsync(s.Id, null, Ct);
            old.Add(s.Id);
        }

        // Deleted "long ago": moved back by hand, as time would.
        await postgres.ExecuteAsync($"update \"{_host.Schema}\".form_submissions set deleted_at = now() - interval '40 days' where id = any(array['{string.Join("','", old)}']::uuid[])");
        var recent = await Submissions.CreateAsync("purge", JsonOf("""{"secret": "recent"}"""), null, Ct);
        await Submissions.DeleteAsync(recent.Id, null, Ct);

        Assert.Equal(3, await Submissions.PurgeAsync(TimeSpan.FromDays(30), null, Ct));
        Assert.Equal(0, await Submissions.PurgeAsync(TimeSpan.FromDays(30), null, Ct));
        Assert.Equal(2, await Submissions.CountAsync(new SubmissionQuery { FormName = "purge", IncludeDeleted = true }, Ct));
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from \"{_host.Schema}\".form_submission_revisions where submission_id = any(array['{string.Join("','", old)}']::uuid[])"));
        foreach (var id in old)
        {
            await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.RestoreAsync(id, null, Ct));
            Assert.Equal(PliersEventTypes.SubmissionPurged, (await EventTypesAsync(id))[^1]);
        }

        // No event of a purged submission carries its data.
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from \"{_host.Schema}\".events where event_data::text like '%personal%' or event_data::text like '%edited%'"));
        Assert.Equal(1, await Submissions.PurgeAsync(TimeSpan.Zero, null, Ct));
        Assert.NotNull(await Submissions.GetByIdAsync(live.Id, Ct));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Submissions.PurgeAsync(TimeSpan.FromSeconds(-1), null, Ct));
    }

    [Fact]
    public async Task Drafts_can_be_deleted_active_and_archived_definitions_cannot()
    {
        var draft = await Forms.CreateAsync("drafty", JsonOf("""{"schema": {"type": "object"}}"""), null, Ct);
        var deleted = await Forms.DeleteDraftAsync(draft.Id, null, Ct);
        Assert.Equal(draft.Id, deleted.Id);
        Assert.Null(await Forms.GetByIdAsync(draft.Id, Ct));
        Assert.Equal([PliersEventTypes.DefinitionCreated, PliersEventTypes.DefinitionDeleted], await EventTypesAsync(draft.Id));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Forms.DeleteDraftAsync(draft.Id, null, Ct));

        var active = await Forms.PublishAsync((await Forms.CreateAsync("drafty", JsonOf("""{"schema": {"type": "object"}}"""), null, Ct)).Id, null, Ct);
        var refused = await Assert.ThrowsAsync<PliersConflictException>(() => Forms.DeleteDraftAsync(active.Id, null, Ct));
        Assert.Equal("form_definitions_immutable", refused.Rule);
        var archived = await Forms.ArchiveAsync(active.Id, null, Ct);
        await Assert.ThrowsAsync<PliersConflictException>(() => Forms.DeleteDraftAsync(archived.Id, null, Ct));
        Assert.NotNull(await Forms.GetByIdAsync(archived.Id, Ct));
    }
}
