using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;
using Pliers.Data.Tests.Validation;

namespace Pliers.Data.Tests.Forms;

public sealed class FormsAndSubmissionsTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IFormDefinitionRepository Forms => _host.Services.GetRequiredService<IFormDefinitionRepository>();

    private IFormSubmissionRepository Submissions => _host.Services.GetRequiredService<IFormSubmissionRepository>();

    private IEventStore Events => _host.Services.GetRequiredService<IEventStore>();

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static JsonElement ContactDefinition()
    {
        var (_, schema, _) = FormSchemas.All.Single(f => f.Name == "contact");
        return JsonOf($$"""{"fields": [{"name": "name", "label": "Your name"}], "schema": {{schema}}}""");
    }

    private async Task<FormDefinition> PublishedContactAsync(string name = "contact")
    {
        var draft = await Forms.CreateAsync(name, ContactDefinition(), null, Ct);
        return await Forms.PublishAsync(draft.Id, null, Ct);
    }

    private async Task<List<StoredEvent>> StreamAsync(Guid id)
    {
        var list = new List<StoredEvent>();
        await foreach (var e in Events.ReadStreamAsync(id, 1, Ct))
        {
            list.Add(e);
        }

        return list;
    }

    [Fact]
    public async Task A_form_goes_from_draft_to_active_to_archived_and_publishing_a_new_version_archives_the_old_one()
    {
        var flow = Guid.NewGuid();
        var v1 = await Forms.CreateAsync("  intake  ", ContactDefinition(), new EventContext(flow), Ct);
        Assert.Equal("intake", v1.Name);
        Assert.Equal(1, v1.Version);
        Assert.Equal(FormDefinitionStatus.Draft, v1.Status);
        Assert.Equal("Your name", v1.Definition.GetProperty("fields")[0].GetProperty("label").GetString());

        var published = await Forms.PublishAsync(v1.Id, new EventContext(flow), Ct);
        Assert.Equal(FormDefinitionStatus.Active, published.Status);

        var v2 = await Forms.CreateVersionAsync("intake", null, null, Ct);
        Assert.Equal(2, v2.Version);
        Assert.Equal(v1.Definition.GetRawText(), v2.Definition.GetRawText());
        await Forms.PublishAsync(v2.Id, null, Ct);

        Assert.Equal(FormDefinitionStatus.Archived, (await Forms.GetByIdAsync(v1.Id, Ct))!.Status);
        Assert.Equal(v2.Id, (await Forms.GetActiveAsync("intake", Ct))!.Id);
        Assert.Equal([1, 2], (await Forms.GetVersionsAsync("intake", Ct)).Select(v => v.Version));
        Assert.Equal(v2.Id, (await Forms.GetAsync("intake", 2, Ct))!.Id);

        var archived = await Forms.ArchiveAsync(v2.Id, null, Ct);
        Assert.Equal(FormDefinitionStatus.Archived, archived.Status);
        Assert.Null(await Forms.GetActiveAsync("intake", Ct));

        Assert.Equal(["form.definition.created", "form.definition.published", "form.definition.deprecated"], (await StreamAsync(v1.Id)).Select(e => e.EventType));
        Assert.All((await StreamAsync(v1.Id)).Take(2), e => Assert.Equal(flow, e.CorrelationId));
        Assert.Equal(["form.definition.created", "form.definition.published", "form.definition.deprecated"], (await StreamAsync(v2.Id)).Select(e => e.EventType));
    }

    [Fact]
    public async Task Drafts_are_edited_with_optimistic_concurrency_and_published_versions_are_immutable()
    {
        var draft = await Forms.CreateAsync("edit-me", ContactDefinition(), null, Ct);
        var edited = await Forms.UpdateDraftAsync(draft.Id, draft.RowVersion, JsonOf("""{"schema": {"type": "object"}}"""), null, Ct);
        Assert.NotEqual(draft.RowVersion, edited.RowVersion);

        var stale = await Assert.ThrowsAsync<PliersConcurrencyException>(() => Forms.UpdateDraftAsync(draft.Id, draft.RowVersion, JsonOf("""{"schema": true}"""), null, Ct));
        Assert.Equal(draft.Id, stale.EntityId);

        var published = await Forms.PublishAsync(draft.Id, null, Ct);
        await Assert.ThrowsAsync<PliersConflictException>(() => Forms.UpdateDraftAsync(draft.Id, published.RowVersion, JsonOf("""{"schema": true}"""), null, Ct));
        await Assert.ThrowsAsync<PliersConflictException>(() => Forms.PublishAsync(draft.Id, null, Ct));
        await Assert.ThrowsAsync<PliersConflictException>(() => Forms.CreateAsync("edit-me", ContactDefinition(), null, Ct));
        Assert.Equal(["form.definition.created", "form.definition.updated", "form.definition.published"], (await StreamAsync(draft.Id)).Select(e => e.EventType));
    }

    [Theory]
    [InlineData("""[]""", "")]
    [InlineData("""{"fields": []}""", "/schema")]
    [InlineData("""{"schema": {"type": "strange"}}""", "/schema")]
    [InlineData("""{"schema": {"minimum": "ten"}}""", "/schema")]
    [InlineData("""{"schema": {"$ref": "https://example.com/other.json"}}""", "/schema/$ref")]
    [InlineData("""{"schema": {"properties": {"a": {"dependencies": {"b": ["c"]}}}}}""", "/schema/properties/a/dependencies")]
    public async Task An_unusable_schema_is_refused_when_the_definition_is_saved(string definition, string pathPrefix)
    {
        var error = await Assert.ThrowsAsync<PliersValidationException>(() => Forms.CreateAsync("bad-schema", JsonOf(definition), null, Ct));
        Assert.NotEmpty(error.Errors);
        Assert.Contains(error.Errors, e => e.Path.StartsWith(pathPrefix, StringComparison.Ordinal));
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_definitions"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task A_blank_or_long_name_is_refused(string name)
    {
        await Assert.ThrowsAsync<PliersValidationException>(() => Forms.CreateAsync(name, ContactDefinition(), null, Ct));
        await Assert.ThrowsAsync<PliersValidationException>(() => Forms.CreateAsync(new string('n', 101), ContactDefinition(), null, Ct));
    }

    [Fact]
    public async Task Definitions_are_listed_by_name_with_keyset_pages_status_and_prefix()
    {
        foreach (var name in new[] { "alpha", "beta", "alpine", "gamma" })
        {
            await PublishedContactAsync(name);
        }

        await Forms.CreateAsync("alpha-draft", ContactDefinition(), null, Ct);
        var first = await Forms.ListAsync(new FormDefinitionQuery { PageSize = 2 }, Ct);
        var second = await Forms.ListAsync(new FormDefinitionQuery { PageSize = 2, Cursor = first.NextCursor }, Ct);
        var third = await Forms.ListAsync(new FormDefinitionQuery { PageSize = 2, Cursor = second.NextCursor }, Ct);
        Assert.Equal(["alpha", "alpha-draft", "alpine", "beta", "gamma"], first.Items.Concat(second.Items).Concat(third.Items).Select(d => d.Name));
        Assert.Null(third.NextCursor);
        Assert.Equal(["alpha", "alpine"], (await Forms.ListAsync(new FormDefinitionQuery { NamePrefix = "alp", Status = FormDefinitionStatus.Active }, Ct)).Items.Select(d => d.Name));
    }

    [Fact]
    public async Task A_valid_submission_is_stored_with_its_event_and_its_version_comes_from_the_definition()
    {
        var form = await PublishedContactAsync();
        var flow = Guid.NewGuid();
        var created = await Submissions.CreateAsync("contact", JsonOf("""{"name": "Ada", "email": "ada@example.org", "age": 36}"""), new EventContext(flow), Ct);
        Assert.Equal(form.Id, created.FormDefinitionId);
        Assert.Equal(1, created.FormVersion);
        Assert.Equal(SubmissionStatus.Draft, created.Status);
        Assert.Equal(36, created.Data.GetProperty("age").GetInt32());

        var byId = await Submissions.CreateAsync(form.Id, JsonOf("""{"name": "Bo", "email": "bo@example.org"}"""), null, Ct);
        Assert.Equal(byId.Id, (await Submissions.GetByIdAsync(byId.Id, Ct))!.Id);

        var events = await StreamAsync(created.Id);
        var created1 = Assert.Single(events);
        Assert.Equal("form.submission.created", created1.EventType);
        Assert.Equal("form_submission", created1.AggregateType);
        Assert.Equal(flow, created1.CorrelationId);
    }

    [Fact]
    public async Task Invalid_data_lists_every_error_with_its_pointer_and_writes_nothing()
    {
        await PublishedContactAsync();
        var error = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("contact", JsonOf("""{"email": 42, "age": -1, "interests": ["news", "news"], "extra": true}"""), null, Ct));
        Assert.Contains(error.Errors, e => e.Keyword == "required");
        Assert.Contains(error.Errors, e => e.Path == "/email" && e.Keyword == "type");
        Assert.Contains(error.Errors, e => e.Path == "/age" && e.Keyword == "minimum");
        Assert.Contains(error.Errors, e => e.Path == "/interests" && e.Keyword == "uniqueItems");
        Assert.Contains(error.Errors, e => e.Path == "/extra" && e.Keyword == "additionalProperties");
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        Assert.Equal(2L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    [Fact]
    public async Task Bad_input_gets_a_typed_error()
    {
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.CreateAsync("nope", JsonOf("{}"), null, Ct));
        var draft = await Forms.CreateAsync("unpublished", ContactDefinition(), null, Ct);
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.CreateAsync("unpublished", JsonOf("{}"), null, Ct));
        await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.CreateAsync(draft.Id, JsonOf("{}"), null, Ct));
        await PublishedContactAsync();

        var notObject = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("contact", JsonOf("[1]"), null, Ct));
        Assert.Equal("type", Assert.Single(notObject.Errors).Keyword);

        var huge = JsonOf($$"""{"name": "x", "email": "a@b", "message": "{{new string('m', 10 * 1024 * 1024)}}"}""");
        var tooBig = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("contact", huge, null, Ct));
        Assert.Equal("maxBytes", Assert.Single(tooBig.Errors).Keyword);

        var deepText = new string('[', 10_000) + new string(']', 10_000);
        var deep = JsonDocument.Parse($$"""{"name": "x", "email": "a@b", "nested": {{deepText}}}""", new JsonDocumentOptions { MaxDepth = 20_000 }).RootElement;
        var tooDeep = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("contact", deep, null, Ct));
        Assert.Equal("maxDepth", Assert.Single(tooDeep.Errors).Keyword);

        var nul = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.CreateAsync("contact", JsonOf("""{"name": "a\u0000b", "email": "a@b"}"""), null, Ct));
        Assert.Equal("jsonb", Assert.Single(nul.Errors).Keyword);

        foreach (var hostile in new[] { "'; drop table events; --", "%", "_", "\\", "contact' or '1'='1" })
        {
            await Assert.ThrowsAsync<PliersNotFoundException>(() => Submissions.CreateAsync(hostile, JsonOf("{}"), null, Ct));
            var page = await Submissions.QueryAsync(new SubmissionQuery { TitlePrefix = hostile, FormName = hostile }, Ct);
            Assert.Empty(page.Items);
        }

        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        Assert.True(await postgres.ScalarAsync<long>($"select count(*) from {S}.events") > 0);
    }

    [Fact]
    public async Task Updates_are_validated_and_concurrency_checked_and_status_moves_follow_the_workflow()
    {
        await PublishedContactAsync();
        var s = await Submissions.CreateAsync("contact", JsonOf("""{"name": "Ada", "email": "ada@example.org"}"""), null, Ct);
        var updated = await Submissions.UpdateDataAsync(s.Id, s.RowVersion, JsonOf("""{"name": "Ada L.", "email": "ada@example.org"}"""), null, Ct);
        Assert.Equal("Ada L.", updated.Data.GetProperty("name").GetString());
        await Assert.ThrowsAsync<PliersConcurrencyException>(() => Submissions.UpdateDataAsync(s.Id, s.RowVersion, JsonOf("""{"name": "B", "email": "b@c"}"""), null, Ct));
        await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.UpdateDataAsync(s.Id, updated.RowVersion, JsonOf("""{"name": ""}"""), null, Ct));

        await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.ChangeStatusAsync(s.Id, updated.RowVersion, SubmissionStatus.Approved, null, Ct));
        var submitted = await Submissions.ChangeStatusAsync(s.Id, updated.RowVersion, SubmissionStatus.Submitted, null, Ct);
        var approved = await Submissions.ChangeStatusAsync(s.Id, submitted.RowVersion, SubmissionStatus.Approved, null, Ct);
        await Assert.ThrowsAsync<PliersConflictException>(() => Submissions.ChangeStatusAsync(s.Id, approved.RowVersion, SubmissionStatus.Draft, null, Ct));
        var archived = await Submissions.ChangeStatusAsync(s.Id, approved.RowVersion, SubmissionStatus.Archived, null, Ct);
        Assert.Equal(SubmissionStatus.Archived, archived.Status);

        Assert.Equal(
            ["form.submission.created", "form.submission.updated", "form.submission.submitted", "form.submission.approved", "form.submission.archived"],
            (await StreamAsync(s.Id)).Select(e => e.EventType));
    }

    [Fact]
    public async Task Queries_filter_page_count_and_stream()
    {
        var form = await PublishedContactAsync();
        var other = await PublishedContactAsync("other");
        for (var i = 0; i < 30; i++)
        {
            await Submissions.CreateAsync(i % 3 == 0 ? "other" : "contact", JsonOf($$"""{"name": "n{{i}}", "email": "e{{i}}@x", "age": {{i}}, "newsletter": {{(i % 2 == 0 ? "true" : "false")}}}"""), null, Ct);
        }

        var all = new List<FormSubmission>();
        string? cursor = null;
        do
        {
            var page = await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form.Id, PageSize = 7, Cursor = cursor }, Ct);
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);

        Assert.Equal(20, all.Count);
        Assert.Equal(all.Count, all.Select(s => s.Id).Distinct().Count());
        Assert.True(all.Zip(all.Skip(1)).All(p => p.First.CreatedAt > p.Second.CreatedAt || (p.First.CreatedAt == p.Second.CreatedAt && p.First.Id.CompareTo(p.Second.Id) > 0)));

        var contains = await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form.Id, DataContains = JsonOf("""{"newsletter": true}""") }, Ct);
        Assert.All(contains.Items, s => Assert.True(s.Data.GetProperty("newsletter").GetBoolean()));
        Assert.Equal(10, contains.Items.Count);
        Assert.Equal(15L, await Submissions.CountAsync(new SubmissionQuery { DataContains = JsonOf("""{"newsletter": true}""") }, Ct));
        Assert.Equal(10L, await Submissions.CountAsync(new SubmissionQuery { FormName = "other" }, Ct));
        Assert.Equal(0L, await Submissions.CountAsync(new SubmissionQuery { FormDefinitionId = other.Id, Status = SubmissionStatus.Approved }, Ct));
        Assert.Equal(30L, await Submissions.CountAsync(new SubmissionQuery { CreatedFrom = DateTimeOffset.UtcNow.AddMinutes(-5), CreatedTo = DateTimeOffset.UtcNow.AddMinutes(5) }, Ct));

        var streamed = 0;
        await foreach (var s in Submissions.StreamAsync(new SubmissionQuery { FormName = "contact" }, Ct))
        {
            streamed++;
        }

        Assert.Equal(20, streamed);
        await Assert.ThrowsAsync<ArgumentException>(() => Submissions.QueryAsync(new SubmissionQuery { Cursor = "not-a-cursor" }, Ct));
    }

    [Fact]
    public async Task Priority_and_title_come_from_the_data()
    {
        var draft = await Forms.CreateAsync("ticket", JsonOf("""{"schema": {"type": "object", "properties": {"title": {"type": "string"}, "priority": {"type": "integer"}}}}"""), null, Ct);
        var form = await Forms.PublishAsync(draft.Id, null, Ct);
        for (var p = 1; p <= 5; p++)
        {
            await Submissions.CreateAsync("ticket", JsonOf($$"""{"title": "Broken {{p}} 100%_done", "priority": {{p}}}"""), null, Ct);
        }

        Assert.Equal(3, (await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form.Id, PriorityFrom = 2, PriorityTo = 4 }, Ct)).Items.Count);
        Assert.Single((await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form.Id, TitlePrefix = "Broken 3 100%_" }, Ct)).Items);
        Assert.Empty((await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form.Id, TitlePrefix = "Broken 3 100%x" }, Ct)).Items);
    }

    [Fact]
    public async Task Bulk_import_is_validated_and_all_or_nothing()
    {
        await PublishedContactAsync();
        var good = Enumerable.Range(0, 2000).Select(i => JsonOf($$"""{"name": "n{{i}}", "email": "e{{i}}@x"}""")).ToArray();
        Assert.Equal(2000, await Submissions.BulkImportAsync("contact", good, null, Ct));
        Assert.Equal(2000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        Assert.Equal(2000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where event_type = 'form.submission.created'"));

        // One created event per imported submission: version 1 of its own stream, marked imported.
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions s where not exists (select from {S}.events e where e.aggregate_id = s.id and e.event_version = 1 and e.aggregate_type = 'form_submission' and (e.event_data ->> 'imported')::boolean)"));

        // Their global order is the items' order.
        Assert.Equal(
            string.Join(',', Enumerable.Range(0, 2000).Select(i => $"n{i}")),
            await postgres.ScalarAsync<string>($"select string_agg(s.data ->> 'name', ',' order by e.transaction_id, e.position) from {S}.events e join {S}.form_submissions s on s.id = e.aggregate_id"));

        var mixed = good.Take(100).Append(JsonOf("""{"name": "", "email": 1}""")).ToArray();
        var error = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.BulkImportAsync("contact", mixed, null, Ct));
        Assert.Contains(error.Errors, e => e.Path.StartsWith("/100", StringComparison.Ordinal));
        Assert.Equal(2000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));

        // Every invalid item is named with its index, not only the first the database met; nothing is written.
        var several = good.Take(50).Append(JsonOf("""{"name": "x"}""")).Concat(good.Take(10)).Append(JsonOf("""{"name": 5, "email": "a@b"}""")).Append(JsonOf("[]")).ToArray();
        error = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.BulkImportAsync("contact", several, null, Ct));
        Assert.Contains(error.Errors, e => e.Path == "/62" && e.Keyword == "type");
        error = await Assert.ThrowsAsync<PliersValidationException>(() => Submissions.BulkImportAsync("contact", several[..^1], null, Ct));
        Assert.Contains(error.Errors, e => e.Path.StartsWith("/50", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.Path.StartsWith("/61/name", StringComparison.Ordinal));
        Assert.Contains("error(s)", error.Message, StringComparison.Ordinal);
        Assert.Equal(2000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        Assert.Equal(2000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where event_type = 'form.submission.created'"));

        // The caller's correlation and causation reach every event of an import.
        var flow = new EventContext(Guid.NewGuid(), Guid.NewGuid());
        Assert.Equal(2, await Submissions.BulkImportAsync("contact", good.Take(2), flow, Ct));
        Assert.Equal(2L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where correlation_id = '{flow.CorrelationId}' and causation_id = '{flow.CausationId}'"));
    }

    [Fact]
    public async Task The_database_still_refuses_what_the_library_would_refuse()
    {
        var form = await PublishedContactAsync();
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{form.Id}}', 1, '{"email": "no"}')"""));
        Assert.Equal("form_submissions_data_schema", error.ConstraintName);
    }

    [Fact]
    public async Task Concurrent_publishes_of_one_form_leave_exactly_one_active_version()
    {
        var v1 = await Forms.CreateAsync("race", ContactDefinition(), null, Ct);
        var drafts = new List<FormDefinition> { v1 };
        for (var i = 0; i < 5; i++)
        {
            drafts.Add(await Forms.CreateVersionAsync("race", null, null, Ct));
        }

        var results = await Task.WhenAll(drafts.Select(d => Task.Run(async () =>
        {
            try
            {
                await Forms.PublishAsync(d.Id, null, Ct);
                return true;
            }
            catch (PliersConflictException)
            {
                return false;
            }
        }, Ct)));

        Assert.True(results.Count(r => r) >= 1);
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_definitions where name = 'race' and status = 'active'"));
    }
}
