using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>
/// The submission write path: one statement per write, the cache of active definitions and its invalidation across
/// hosts, and the guarantee that no submission lands on a version a racing publish archived.
/// </summary>
public sealed class WritePathTests(PostgresFixture postgres)
{
    private const string Definition = """{"schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}""";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static JsonElement Named(string name) => JsonOf(JsonSerializer.Serialize(new { name }));

    private static ActiveDefinitionCache Cache(PliersHost host) => host.Services.GetRequiredService<ActiveDefinitionCache>();

    private static async Task<FormDefinition> PublishAsync(PliersHost host, string name)
    {
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateVersionOrFirstAsync(name);
        return await forms.PublishAsync(draft.Id, null, Ct);
    }

    /// <summary>Version 1 of <paramref name="name"/> published in host A and cached in host B, and a draft version 2.</summary>
    private static async Task<(FormDefinition V1, FormDefinition V2)> CachedWithDraftAsync(PliersHost a, PliersHost b, string name)
    {
        var v1 = await PublishAsync(a, name);
        await WarmAsync(b, name, 1);
        var v2 = await a.Services.GetRequiredService<IFormDefinitionRepository>().CreateVersionAsync(name, null, null, Ct);
        return (v1, v2);
    }

    /// <summary>Host B has v1 of <paramref name="name"/> cached by name (its listener is listening).</summary>
    private static async Task WarmAsync(PliersHost host, string name, int version)
    {
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        await submissions.CreateAsync(name, Named("warm-up"), null, Ct);
        await Eventually.WaitAsync(() => Cache(host).Listening, "the definition listener listens");
        await submissions.CreateAsync(name, Named("warm-up"), null, Ct);
        Assert.Equal(version, Cache(host).ByName(name)?.Version);
    }

    [Fact]
    public async Task A_publish_in_one_host_reaches_the_cache_of_another_and_its_next_submission_uses_the_new_version()
    {
        await using var a = await PliersHost.MigratedAsync(postgres);
        await using var b = PliersHost.Create(postgres, a.Schema);
        await PublishAsync(a, "relocation");
        await WarmAsync(b, "relocation", 1);

        var v2 = await PublishAsync(a, "relocation");

        // NOTIFY (sent in the publish's transaction) drops the name in host B without any write of B's.
        await Eventually.WaitAsync(() => Cache(b).ByName("relocation") is null, "host B forgets the archived version");
        var submission = await b.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("relocation", Named("Ana"), null, Ct);
        Assert.Equal(v2.Id, submission.FormDefinitionId);
        Assert.Equal(2, submission.FormVersion);
        Assert.Equal(2, Cache(b).ByName("relocation")?.Version);
    }

    [Fact]
    public async Task A_stale_cache_entry_never_writes_to_an_archived_version()
    {
        await using var a = await PliersHost.MigratedAsync(postgres);
        await using var b = PliersHost.Create(postgres, a.Schema);
        var (v1, v2) = await CachedWithDraftAsync(a, b, "benefits");

        // A publish whose notification never arrives (written by hand, without NOTIFY): B still holds version 1.
        await postgres.ExecuteAsync($"""
            begin;
            update "{a.Schema}".form_definitions set status = 'archived' where id = '{v1.Id}';
            update "{a.Schema}".form_definitions set status = 'active' where id = '{v2.Id}';
            commit;
            """);
        Assert.Equal(v1.Id, Cache(b).ByName("benefits")?.Id);

        var submission = await b.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("benefits", Named("Bo"), null, Ct);
        Assert.Equal(2, submission.FormVersion);
        Assert.Equal(v2.Id, Cache(b).ByName("benefits")?.Id);

        // Archived without a successor: the stale entry turns into the same refusal as an uncached look-up.
        await postgres.ExecuteAsync($"""update "{a.Schema}".form_definitions set status = 'archived' where id = '{v2.Id}'""");
        await Assert.ThrowsAsync<PliersNotFoundException>(() => b.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("benefits", Named("Cy"), null, Ct));
        var error = await Assert.ThrowsAsync<PliersConflictException>(() => b.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync(v1.Id, Named("Cy"), null, Ct));
        Assert.Equal("form_submissions_active_version", error.Rule);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"""select count(*) from "{a.Schema}".form_submissions s join "{a.Schema}".form_definitions d on d.id = s.form_definition_id where s.data ->> 'name' = 'Cy'"""));
    }

    [Fact]
    public async Task A_submission_that_meets_a_publish_in_flight_waits_for_it_and_lands_on_the_new_version()
    {
        await using var a = await PliersHost.MigratedAsync(postgres);
        await using var b = PliersHost.Create(postgres, a.Schema);
        var (v1, v2) = await CachedWithDraftAsync(a, b, "permit");

        // A publish holding its locks, not yet committed (as PublishAsync does: every version FOR UPDATE first).
        await using var publisher = await postgres.OpenAsync();
        await using var transaction = await publisher.BeginTransactionAsync(Ct);
        await Execute(publisher, $"""select id from "{a.Schema}".form_definitions where name = 'permit' order by version for update""");
        await Execute(publisher, $"""update "{a.Schema}".form_definitions set status = 'archived' where id = '{v1.Id}'""");
        await Execute(publisher, $"""update "{a.Schema}".form_definitions set status = 'active' where id = '{v2.Id}'""");

        var create = b.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("permit", Named("Dee"), null, Ct);
        await WaitForOneBlockedAsync($"%\"{a.Schema}\".form_definitions%for key share%", "the submission waits for the publish's lock");
        Assert.False(create.IsCompleted);
        await transaction.CommitAsync(Ct);

        var submission = await create;
        Assert.Equal(v2.Id, submission.FormDefinitionId);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"""select count(*) from "{a.Schema}".form_submissions where form_definition_id = '{v1.Id}' and data ->> 'name' = 'Dee'"""));
    }

    [Fact]
    public async Task Racing_publishes_and_submissions_never_commit_a_submission_to_an_archived_version()
    {
        await using var a = await PliersHost.MigratedAsync(postgres);
        await using var b = PliersHost.Create(postgres, a.Schema);
        var s = $"\"{a.Schema}\"";

        // At the commit of every submission (a deferred constraint trigger, with a fresh snapshot), record the status
        // of the version it went to. Without the lock a publish could commit between the insert and this check.
        await postgres.ExecuteAsync($"""
            create table {s}.commit_check (submission uuid primary key, definition_status text not null);
            create function {s}.record_definition_status() returns trigger language plpgsql as $$
            begin
                insert into {s}.commit_check values (new.id, (select status from {s}.form_definitions where id = new.form_definition_id));
                return null;
            end $$;
            create constraint trigger record_definition_status after insert on {s}.form_submissions
                deferrable initially deferred for each row execute function {s}.record_definition_status();
            """);
        await PublishAsync(a, "grant");
        await WarmAsync(b, "grant", 1);
        var forms = a.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = b.Services.GetRequiredService<IFormSubmissionRepository>();
        const int Rounds = 8;
        const int Writers = 12;
        var barrier = new AsyncBarrier(Writers + 1);
        var created = 0;
        for (var round = 0; round < Rounds; round++)
        {
            var draft = await forms.CreateVersionAsync("grant", null, null, Ct);
            var writers = Enumerable.Range(0, Writers).Select(async i =>
            {
                await barrier.SignalAndWaitAsync(Ct);
                await submissions.CreateAsync("grant", Named($"r{round}-{i}"), null, Ct);
                Interlocked.Increment(ref created);
            });
            var publish = Task.Run(async () =>
            {
                await barrier.SignalAndWaitAsync(Ct);
                await forms.PublishAsync(draft.Id, null, Ct);
            }, Ct);
            await Task.WhenAll([.. writers, publish]);
        }

        Assert.Equal(Rounds * Writers, created);
        var statuses = await postgres.QueryAsync<(string, long)>($"select definition_status, count(*) from {s}.commit_check group by 1");
        Assert.Equal([("active", (long)(created + 2))], statuses);
    }

    [Fact]
    public async Task Create_and_status_change_are_one_statement_and_a_data_update_one_statement_and_its_commit()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await PublishAsync(host, "one-trip");
        await WarmAsync(host, "one-trip", 1);
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();

        var (created, createCommands) = await CommandsOfAsync(() => submissions.CreateAsync("one-trip", Named("Eve"), null, Ct));
        var (submitted, statusCommands) = await CommandsOfAsync(() => submissions.ChangeStatusAsync(created.Id, created.RowVersion, SubmissionStatus.Submitted, null, Ct));
        var (updated, updateCommands) = await CommandsOfAsync(() => submissions.UpdateDataAsync(submitted.Id, submitted.RowVersion, Named("Eve Adams"), null, Ct));

        var create = Assert.Single(createCommands);
        Assert.Contains("insert into", create, StringComparison.Ordinal);
        Assert.Contains(".events", create, StringComparison.Ordinal);
        Assert.Contains(".events", Assert.Single(statusCommands), StringComparison.Ordinal);
        Assert.Contains(".events", Assert.Single(updateCommands), StringComparison.Ordinal);
        Assert.Equal("Eve Adams", updated.Data.GetProperty("name").GetString());

        var events = await postgres.QueryAsync<(string, int)>($"""select event_type, event_version from "{host.Schema}".events where aggregate_id = '{created.Id}' order by event_version""");
        Assert.Equal([("form.submission.created", 1), ("form.submission.submitted", 2), ("form.submission.updated", 3)], events);
        var changed = await postgres.ScalarAsync<string>($"""select event_data::text from "{host.Schema}".events where aggregate_id = '{created.Id}' and event_version = 2""");
        var change = JsonOf(changed!);
        Assert.Equal("draft", change.GetProperty("from").GetString());
        Assert.Equal("submitted", change.GetProperty("to").GetString());
        var data = JsonOf((await postgres.ScalarAsync<string>($"""select event_data::text from "{host.Schema}".events where aggregate_id = '{created.Id}' and event_version = 3"""))!);
        Assert.Equal(created.FormDefinitionId, data.GetProperty("formDefinitionId").GetGuid());
        Assert.Equal(1, data.GetProperty("formVersion").GetInt32());
    }

    [Fact]
    public async Task Every_status_event_names_the_status_it_left_whether_the_move_has_one_source_or_many()
    {
        // Moves with one possible source send it with the statement; archiving (from any status) reads it in the
        // statement. Both must name the status the row really had.
        await using var host = await PliersHost.MigratedAsync(postgres);
        await PublishAsync(host, "moves");
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        SubmissionStatus[][] paths =
        [
            [SubmissionStatus.Archived],
            [SubmissionStatus.Submitted, SubmissionStatus.Archived],
            [SubmissionStatus.Submitted, SubmissionStatus.Approved, SubmissionStatus.Archived],
            [SubmissionStatus.Submitted, SubmissionStatus.Rejected, SubmissionStatus.Archived],
        ];
        foreach (var path in paths)
        {
            var submission = await submissions.CreateAsync("moves", Named("Zoë 🦊"), null, Ct);
            var expected = new List<(string From, string To)>();
            var from = "draft";
            foreach (var to in path)
            {
                submission = await submissions.ChangeStatusAsync(submission.Id, submission.RowVersion, to, null, Ct);
                Assert.Equal(to, submission.Status);
                expected.Add((from, to.ToString().ToLowerInvariant()));
                from = to.ToString().ToLowerInvariant();
            }

            var stored = await postgres.QueryAsync<(string, string)>(
                $"""select event_data->>'from', event_data->>'to' from "{host.Schema}".events where aggregate_id = '{submission.Id}' and event_version > 1 order by event_version""");
            Assert.Equal(expected, stored);
        }
    }

    [Fact]
    public async Task A_status_change_that_meets_an_append_to_its_stream_in_flight_retries_on_the_next_version()
    {
        // Another writer holds the row (without changing it) and appends to the submission's stream; the status change
        // waits for the row, then its event takes the version the other writer took: the statement fails on the
        // unique stream version, and the retry (a new snapshot, a new event id) lands on the next version.
        await using var host = await PliersHost.MigratedAsync(postgres);
        await PublishAsync(host, "in-flight");
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var created = await submissions.CreateAsync("in-flight", Named("Ümit"), null, Ct);

        await using var other = await postgres.OpenAsync();
        await using var transaction = await other.BeginTransactionAsync(Ct);
        await Execute(other, $"""select id from "{host.Schema}".form_submissions where id = '{created.Id}' for update""");
        await Execute(other, $"""insert into "{host.Schema}".events (id, aggregate_id, aggregate_type, event_type, event_data, event_version) values (gen_random_uuid(), '{created.Id}', 'form_submission', 'note.added', jsonb_build_object(), 2)""");

        var change = submissions.ChangeStatusAsync(created.Id, created.RowVersion, SubmissionStatus.Submitted, null, Ct);
        await WaitForOneBlockedAsync($"%\"{host.Schema}\".form_submissions%set status%", "the status change waits for the row");
        Assert.False(change.IsCompleted);
        await transaction.CommitAsync(Ct);

        var submitted = await change;
        Assert.Equal(SubmissionStatus.Submitted, submitted.Status);
        var events = await postgres.QueryAsync<(string, int)>($"""select event_type, event_version from "{host.Schema}".events where aggregate_id = '{created.Id}' order by event_version""");
        Assert.Equal([("form.submission.created", 1), ("note.added", 2), ("form.submission.submitted", 3)], events);
    }

    [Fact]
    public async Task Every_refusal_of_a_one_statement_write_is_the_typed_exception_and_writes_nothing()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await PublishAsync(host, "refusals");
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var created = await submissions.CreateAsync("refusals", Named("Fay"), new EventContext(Guid.NewGuid()), Ct);

        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ChangeStatusAsync(Guid.NewGuid(), 1, SubmissionStatus.Submitted, null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.UpdateDataAsync(Guid.NewGuid(), 1, Named("x"), null, Ct));
        var stale = await Assert.ThrowsAsync<PliersConcurrencyException>(() => submissions.ChangeStatusAsync(created.Id, created.RowVersion + 1, SubmissionStatus.Submitted, null, Ct));
        Assert.Equal(created.RowVersion, stale.ActualVersion);
        await Assert.ThrowsAsync<PliersConcurrencyException>(() => submissions.UpdateDataAsync(created.Id, created.RowVersion + 1, Named("x"), null, Ct));
        var move = await Assert.ThrowsAsync<PliersConflictException>(() => submissions.ChangeStatusAsync(created.Id, created.RowVersion, SubmissionStatus.Approved, null, Ct));
        Assert.Equal("form_submissions_status_transition", move.Rule);
        var invalid = await Assert.ThrowsAsync<PliersValidationException>(() => submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"name": 5}"""), null, Ct));
        Assert.Contains(invalid.Errors, e => e.Path == "/name" && e.Keyword == "type");

        var after = (await submissions.GetByIdAsync(created.Id, Ct))!;
        Assert.Equal(created.RowVersion, after.RowVersion);
        Assert.Equal(SubmissionStatus.Draft, after.Status);
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"""select count(*) from "{host.Schema}".events where aggregate_id = '{created.Id}'"""));
    }

    [Fact]
    public async Task The_cache_is_bounded_can_be_turned_off_and_comes_back_after_its_connection_is_killed()
    {
        await using var a = await PliersHost.MigratedAsync(postgres);
        for (var i = 0; i < 5; i++)
        {
            await PublishAsync(a, "bounded-" + i);
        }

        // Bounded: three entries at most, and every form still works.
        await using var small = Host(a.Schema, 3);
        await Eventually.WaitAsync(
            async () =>
            {
                for (var i = 0; i < 5; i++)
                {
                    await small.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("bounded-" + i, Named("n" + i), null, Ct);
                }

                return Cache(small).NameCount;
            },
            count => count == 3,
            "the cache holds three names");

        // Off: nothing cached, submissions still go to the active version.
        await using var off = Host(a.Schema, 0);
        var submission = await off.Services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("bounded-0", Named("off"), null, Ct);
        Assert.Equal(1, submission.FormVersion);
        Assert.Null(Cache(off).ByName("bounded-0"));

        // Its listening connection killed: it stops serving names, listens again, and invalidation works again.
        await WarmAsync(a, "bounded-1", 1);
        var killed = await postgres.ScalarAsync<long>("select count(pg_terminate_backend(pid)) from pg_stat_activity where query = 'listen " + ActiveDefinitionCache.Channel + "' and pid <> pg_backend_pid()");
        Assert.True(killed >= 1);
        await Eventually.WaitAsync(() => Cache(a).ByName("bounded-1") is null, "the killed listener's names are forgotten");
        await WarmAsync(a, "bounded-1", 1);
        await PublishAsyncFromOtherHost(a.Schema, "bounded-1");
        await Eventually.WaitAsync(() => Cache(a).ByName("bounded-1") is null, "a publish elsewhere reaches the listener again");
    }

    [Fact]
    public void A_negative_cache_size_is_refused_at_start_up()
    {
        var services = new ServiceCollection().AddPliersData(o =>
        {
            o.ConnectionString = postgres.ConnectionString;
            o.DefinitionCacheSize = -1;
        }).BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<PliersDataOptions>>().Value);
        Assert.Contains("DefinitionCacheSize", error.Message, StringComparison.Ordinal);
    }

    private async Task PublishAsyncFromOtherHost(string schema, string name)
    {
        // Only its services are disposed: disposing the PliersHost would drop the schema the test still uses.
        var other = PliersHost.Create(postgres, schema);
        try
        {
            await PublishAsync(other, name);
        }
        finally
        {
            await other.Services.DisposeAsync();
        }
    }

    private PliersHost Host(string schema, int cacheSize) => PliersHost.Create(postgres, schema, configure: o => o.DefinitionCacheSize = cacheSize);

    /// <summary>Waits (bounded) until exactly one statement whose text is like <paramref name="queryPattern"/> waits for a lock.</summary>
    private Task<long> WaitForOneBlockedAsync(string queryPattern, string what) =>
        Eventually.WaitAsync(
            () => postgres.ScalarAsync<long>($"select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like '{queryPattern}'"),
            waiting => waiting == 1,
            what);

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(Ct);
    }

    /// <summary>Runs <paramref name="write"/> and returns the SQL of every command Npgsql sent for it (its tracing).</summary>
    private static async Task<(T Result, List<string> Commands)> CommandsOfAsync<T>(Func<Task<T>> write)
    {
        using var probe = new ActivitySource("Pliers.Data.Tests.WritePath");
        var commands = new List<string>();
        ActivityTraceId? trace = null;
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Npgsql" or "Pliers.Data.Tests.WritePath",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a =>
            {
                if (a.Source.Name == "Npgsql" && a.TraceId == trace && (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement")) is string sql)
                {
                    lock (commands)
                    {
                        commands.Add(sql);
                    }
                }
            },
        };
        ActivitySource.AddActivityListener(listener);
        T result;
        using (var parent = probe.StartActivity("write")!)
        {
            trace = parent.TraceId;
            result = await write();
        }

        lock (commands)
        {
            return (result, commands.ToList());
        }
    }
}

internal static class FormRepositoryTestExtensions
{
    /// <summary>Version 1 of a new form, or the next version of an existing one (a draft).</summary>
    public static async Task<FormDefinition> CreateVersionOrFirstAsync(this IFormDefinitionRepository forms, string name)
    {
        var ct = TestContext.Current.CancellationToken;
        return (await forms.GetVersionsAsync(name, ct)).Count == 0
            ? await forms.CreateAsync(name, JsonDocument.Parse("""{"schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}""").RootElement, null, ct)
            : await forms.CreateVersionAsync(name, null, null, ct);
    }
}
