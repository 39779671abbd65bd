using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Events;

public sealed class EventStoreTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IEventStore Store => _host.Services.GetRequiredService<IEventStore>();

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    internal static NewEvent Event(string type = "form.submission.updated", int n = 0) =>
        NewEvent.FromJson(type, $$"""{"n": {{n}}, "text": "about a hundred bytes of payload, like a small domain event would carry"}""");


    /// <summary>
    /// Global reads lag while any transaction in the cluster that started earlier is still running (other test
    /// classes run in parallel): wait until the expected events are visible, as a subscriber would.
    /// </summary>
    private async Task<List<StoredEvent>> ReadAllVisibleAsync(GlobalPosition after, int expected, EventFilter? filter = null, int maxCount = 100)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var events = await TestJson.ToListAsync(Store.ReadAllAsync(after, maxCount, filter, Ct));
            if (events.Count >= expected || DateTime.UtcNow > deadline)
            {
                return events;
            }

            await Task.Delay(20, Ct);
        }
    }

    [Fact]
    public async Task Append_then_read_the_stream_in_order()
    {
        var stream = Guid.NewGuid();
        var correlation = Guid.NewGuid();
        var first = await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, [Event(n: 1) with { CorrelationId = correlation }], Ct);
        var second = await Store.AppendAsync(stream, "order", 1, [Event(n: 2), Event(n: 3) with { CausationId = correlation, Metadata = JsonDocument.Parse("""{"user": "ann"}""").RootElement }], Ct);

        Assert.Equal(1, first.StreamVersion);
        Assert.Equal(3, second.StreamVersion);
        Assert.Equal(2, second.Positions.Count);
        Assert.True(first.Positions[0] < second.Positions[0] && second.Positions[0] < second.Positions[1]);
        Assert.NotEqual(first.TransactionId, second.TransactionId);

        var events = await TestJson.ToListAsync(Store.ReadStreamAsync(stream, 1, Ct));
        Assert.Equal([1L, 2L, 3L], events.Select(e => e.EventVersion));
        Assert.Equal([1, 2, 3], events.Select(e => e.Data.GetProperty("n").GetInt32()));
        Assert.All(events, e => Assert.Equal("order", e.AggregateType));
        Assert.Equal(correlation, events[0].CorrelationId);
        Assert.Equal(correlation, events[2].CausationId);
        Assert.Equal("ann", events[2].Metadata!.Value.GetProperty("user").GetString());
        Assert.Null(events[1].Metadata);
        Assert.Equal(second.Positions, events.Skip(1).Select(e => e.Position));
        Assert.True(events[0].Id.Version == 7, "default ids are UUIDv7");

        Assert.Equal([2L, 3L], (await TestJson.ToListAsync(Store.ReadStreamAsync(stream, 2, Ct))).Select(e => e.EventVersion));
        Assert.Equal([3L, 2L, 1L], (await TestJson.ToListAsync(Store.ReadStreamBackwardAsync(stream, null, Ct))).Select(e => e.EventVersion));
        Assert.Equal([2L, 1L], (await TestJson.ToListAsync(Store.ReadStreamBackwardAsync(stream, 2, Ct))).Select(e => e.EventVersion));
        Assert.Equal(3, await Store.GetStreamVersionAsync(stream, Ct));
        Assert.Equal(0, await Store.GetStreamVersionAsync(Guid.NewGuid(), Ct));
    }

    [Fact]
    public async Task A_stale_expected_version_writes_nothing_and_burns_no_position()
    {
        var stream = Guid.NewGuid();
        var first = await Store.AppendAsync(stream, "order", 0, [Event()], Ct);
        await Store.AppendAsync(stream, "order", 1, [Event()], Ct);

        var stale = await Assert.ThrowsAsync<PliersConcurrencyException>(() => Store.AppendAsync(stream, "order", 1, [Event(), Event()], Ct));
        Assert.Equal(stream, stale.EntityId);
        Assert.Equal(1, stale.ExpectedVersion);
        Assert.Equal(2, stale.ActualVersion);

        var ahead = await Assert.ThrowsAsync<PliersConcurrencyException>(() => Store.AppendAsync(stream, "order", 5, [Event()], Ct));
        Assert.Equal(2, ahead.ActualVersion);

        var exists = await Assert.ThrowsAsync<PliersConcurrencyException>(() => Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, [Event()], Ct));
        Assert.Equal(0, exists.ExpectedVersion);

        var next = await Store.AppendAsync(stream, "order", 2, [Event()], Ct);
        Assert.Equal(3, next.StreamVersion);
        Assert.Equal(first.Positions[0] + 2, next.Positions[0]);
        Assert.Equal(3L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    [Fact]
    public async Task Any_version_appends_after_whatever_is_there()
    {
        var stream = Guid.NewGuid();
        Assert.Equal(1, (await Store.AppendAsync(stream, "invoice", ExpectedVersion.Any, [Event()], Ct)).StreamVersion);
        Assert.Equal(3, (await Store.AppendAsync(stream, "invoice", ExpectedVersion.Any, [Event(), Event()], Ct)).StreamVersion);
    }

    [Fact]
    public async Task Sixteen_concurrent_writers_on_one_stream_leave_contiguous_versions_and_every_loser_is_told()
    {
        var stream = Guid.NewGuid();
        var acknowledged = new ConcurrentBag<Guid>();
        var conflicts = 0;
        // Each round every writer reads the stream version, all meet at the barrier, then all append with what they
        // read: the race is forced, so exactly one append per round wins and fifteen are told.
        var barrier = new AsyncBarrier(16);
        var writers = Enumerable.Range(0, 16).Select(w => Task.Run(
            async () =>
            {
                for (var i = 0; i < 10; i++)
                {
                    var version = await Store.GetStreamVersionAsync(stream, Ct);
                    await barrier.SignalAndWaitAsync(Ct);
                    var batch = new[] { Event(n: w), Event(n: w) };
                    try
                    {
                        await Store.AppendAsync(stream, "order", version, batch, Ct);
                        foreach (var e in batch)
                        {
                            acknowledged.Add(e.Id);
                        }
                    }
                    catch (PliersConcurrencyException e)
                    {
                        Assert.Equal(version, e.ExpectedVersion);
                        Assert.True(e.ActualVersion > version);
                        Interlocked.Increment(ref conflicts);
                    }
                }
            },
            Ct)).ToArray();
        await Task.WhenAll(writers);

        var events = await TestJson.ToListAsync(Store.ReadStreamAsync(stream, 1, Ct));
        Assert.Equal(Enumerable.Range(1, events.Count).Select(v => (long)v), events.Select(e => e.EventVersion));
        Assert.Equal(acknowledged.Count, events.Count);
        Assert.Equal(acknowledged.OrderBy(g => g), events.Select(e => e.Id).OrderBy(g => g));
        Assert.Equal(16 * 10, (events.Count / 2) + conflicts);
        Assert.Equal(10 * 2, events.Count); // one winner per round
        Assert.Equal(10 * 15, conflicts);

        // Batches stay whole: each pair of versions (2k-1, 2k) was written by one writer.
        for (var i = 0; i < events.Count; i += 2)
        {
            Assert.Equal(events[i].TransactionId, events[i + 1].TransactionId);
        }
    }

    [Fact]
    public async Task Retrying_the_same_append_returns_the_original_result()
    {
        var stream = Guid.NewGuid();
        var batch = new[] { Event(n: 1), Event(n: 2) };
        var original = await Store.AppendAsync(stream, "order", 0, batch, Ct);
        var retry = await Store.AppendAsync(stream, "order", 0, batch, Ct);
        Assert.Equal(original.Positions, retry.Positions);
        Assert.Equal(original.StreamVersion, retry.StreamVersion);

        var anyRetry = await Store.AppendAsync(stream, "order", ExpectedVersion.Any, batch, Ct);
        Assert.Equal(original.Positions, anyRetry.Positions);
        Assert.Equal(2L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));

        // Same ids at another expected version, or in another stream, are not a retry.
        await Store.AppendAsync(stream, "order", 2, [Event()], Ct);
        await Assert.ThrowsAsync<PliersConflictException>(() => Store.AppendAsync(Guid.NewGuid(), "order", 0, batch, Ct));
        await Assert.ThrowsAsync<PliersConflictException>(() => Store.AppendAsync(stream, "order", ExpectedVersion.Any, [batch[0], Event()], Ct));
        Assert.Equal(3L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    [Fact]
    public async Task A_batch_of_1000_goes_in_one_round_trip_and_one_transaction()
    {
        var commands = new CommandCounter();
        var builder = new NpgsqlDataSourceBuilder(postgres.ConnectionString);
        builder.UseLoggerFactory(LoggerFactory.Create(l => l.AddProvider(commands).SetMinimumLevel(LogLevel.Debug)));
        await using var dataSource = builder.Build();

        // The host registers its own data source; Pliers reuses it.
        await using var services = new ServiceCollection()
            .AddSingleton(dataSource)
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString;
                o.Schema = _host.Schema;
            })
            .BuildServiceProvider();
        var store = services.GetRequiredService<IEventStore>();
        var batch = Enumerable.Range(0, 1000).Select(i => Event(n: i)).ToArray();

        commands.Reset();
        var result = await store.AppendAsync(Guid.NewGuid(), "order", 0, batch, Ct);

        Assert.Equal(1, commands.Executed);
        Assert.Equal(1000, result.StreamVersion);
        Assert.Equal(1000, result.Positions.Count);
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(distinct transaction_id) from {S}.events"));
    }

    [Fact]
    public async Task Read_all_never_skips_an_event_that_commits_after_a_later_one()
    {
        await Store.AppendAsync(Guid.NewGuid(), "order", 0, [Event(n: 0)], Ct);
        var start = await ReadAllVisibleAsync(GlobalPosition.Start, 1);
        var checkpoint = Assert.Single(start).GlobalPosition;

        // Transaction A appends and stays open.
        await using var side = await postgres.OpenAsync();
        await using var transactionA = await side.BeginTransactionAsync(Ct);
        await using (var insert = new NpgsqlCommand($$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version) values (gen_random_uuid(), 'order', 'A', '{}', 1)""", side, transactionA))
        {
            await insert.ExecuteNonQueryAsync(Ct);
        }

        // Transaction B appends to another stream and commits: a later transaction id, a later position.
        var b = await Store.AppendAsync(Guid.NewGuid(), "order", 0, [Event("B")], Ct);

        Assert.Empty(await TestJson.ToListAsync(Store.ReadAllAsync(checkpoint, 100, null, Ct)));
        Assert.True(await Store.GetReaderLagAsync(Ct) > TimeSpan.Zero);

        await transactionA.CommitAsync(Ct);
        var after = await ReadAllVisibleAsync(checkpoint, 2);
        Assert.Equal(["A", "B"], after.Select(e => e.EventType));
        Assert.True(after[0].Position < b.Positions[0], "A holds the smaller position: a reader following positions alone would have read B, moved past A and never seen it");
        Assert.True(after[0].GlobalPosition < after[1].GlobalPosition);
        Assert.Empty(await TestJson.ToListAsync(Store.ReadAllAsync(after[1].GlobalPosition, 100, null, Ct)));
    }

    [Fact]
    public async Task Read_all_pages_and_filters()
    {
        for (var i = 0; i < 5; i++)
        {
            await Store.AppendAsync(Guid.NewGuid(), i % 2 == 0 ? "order" : "invoice", 0, [Event(i % 2 == 0 ? "form.submission.created" : "form.definition.created", i)], Ct);
        }

        Assert.Equal(5, (await ReadAllVisibleAsync(GlobalPosition.Start, 5)).Count);
        var page1 = await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 2, null, Ct));
        var page2 = await TestJson.ToListAsync(Store.ReadAllAsync(page1[^1].GlobalPosition, 2, null, Ct));
        var page3 = await TestJson.ToListAsync(Store.ReadAllAsync(page2[^1].GlobalPosition, 2, null, Ct));
        Assert.Equal([0, 1, 2, 3, 4], page1.Concat(page2).Concat(page3).Select(e => e.Data.GetProperty("n").GetInt32()));

        var definitions = await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 100, new EventFilter { AggregateTypes = ["invoice"] }, Ct));
        Assert.Equal([1, 3], definitions.Select(e => e.Data.GetProperty("n").GetInt32()));
        var created = await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 100, new EventFilter { EventTypes = ["form.submission.created"] }, Ct));
        Assert.Equal([0, 2, 4], created.Select(e => e.Data.GetProperty("n").GetInt32()));

        Assert.Equal(page1[1].GlobalPosition, GlobalPosition.Parse(page1[1].GlobalPosition.ToString()));
    }

    [Fact]
    public async Task A_subscription_delivers_every_event_exactly_once_across_a_restart()
    {
        var streams = Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToArray();
        for (var i = 0; i < 4; i++)
        {
            await Store.AppendAsync(streams[i], "order", 0, [Event(n: i)], Ct);
        }

        var seen = new List<int>();
        var delivered = 0;
        GlobalPosition checkpoint = GlobalPosition.Start;

        // First run: catch up, then receive live appends (woken by NOTIFY), then stop half-way.
        using (var firstRun = CancellationTokenSource.CreateLinkedTokenSource(Ct))
        {
            firstRun.CancelAfter(TimeSpan.FromSeconds(30));
            var writer = Task.Run(
                async () =>
                {
                    // Live appends: only once the subscriber has caught up with the first four.
                    await Eventually.WaitAsync(() => Volatile.Read(ref delivered) >= 4, "the subscriber caught up");
                    for (var i = 4; i < 8; i++)
                    {
                        await Store.AppendAsync(streams[i % 4], "order", ExpectedVersion.Any, [Event(n: i)], Ct);
                    }
                },
                Ct);
            await foreach (var e in Store.SubscribeAllAsync(checkpoint, null, firstRun.Token))
            {
                seen.Add(e.Data.GetProperty("n").GetInt32());
                Interlocked.Increment(ref delivered);
                checkpoint = e.GlobalPosition;
                if (seen.Count == 8)
                {
                    break;
                }
            }

            await writer;
        }

        // While nobody listens, more events arrive; one is held in an open transaction.
        await Store.AppendAsync(streams[0], "order", ExpectedVersion.Any, [Event(n: 8)], Ct);
        await using var side = await postgres.OpenAsync();
        await using var open = await side.BeginTransactionAsync(Ct);
        await using (var insert = new NpgsqlCommand($$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version) values (gen_random_uuid(), 'order', 'late', '{"n": 9}', 1)""", side, open))
        {
            await insert.ExecuteNonQueryAsync(Ct);
        }

        await Store.AppendAsync(streams[1], "order", ExpectedVersion.Any, [Event(n: 10)], Ct);

        // Second run resumes from the stored checkpoint.
        using var secondRun = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        secondRun.CancelAfter(TimeSpan.FromSeconds(30));
        var committer = Task.Run(
            async () =>
            {
                // Commit the held transaction only once the subscriber has everything before it and stands waiting.
                await Eventually.WaitAsync(() => Volatile.Read(ref delivered) >= 9, "the subscriber reached the held transaction");
                await open.CommitAsync(Ct);
            },
            Ct);
        await foreach (var e in Store.SubscribeAllAsync(checkpoint, null, secondRun.Token))
        {
            seen.Add(e.Data.GetProperty("n").GetInt32());
            Interlocked.Increment(ref delivered);
            if (seen.Count == 11)
            {
                break;
            }
        }

        await committer;
        Assert.Equal(Enumerable.Range(0, 11), seen.Order());
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal([8, 9, 10], seen.Skip(8));
    }

    [Fact]
    public async Task Events_of_a_business_flow_are_found_by_correlation_id()
    {
        var flow = Guid.NewGuid();
        await Store.AppendAsync(Guid.NewGuid(), "invoice", 0, [Event("form.definition.created") with { CorrelationId = flow }], Ct);
        await Store.AppendAsync(Guid.NewGuid(), "order", 0, [Event("form.submission.created") with { CorrelationId = flow }, Event("unrelated")], Ct);
        var events = await TestJson.ToListAsync(Store.ReadByCorrelationIdAsync(flow, Ct));
        Assert.Equal(["form.definition.created", "form.submission.created"], events.Select(e => e.EventType));
    }

    [Fact]
    public async Task Events_restored_ahead_of_the_transaction_counter_are_reported_not_silently_hidden()
    {
        await postgres.ExecuteAsync($$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version, transaction_id) values (gen_random_uuid(), 't', 'restored', '{}', 1, '999999999999'::xid8)""");
        var error = await Assert.ThrowsAsync<PliersDataException>(() => TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 10, null, Ct)));
        Assert.Contains("restored", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadTypes => new()
    {
        { "", "aggregate" },
        { "  ", "aggregate" },
        { " padded", "aggregate" },
        { new string('a', 101), "aggregate" },
        { "", "event" },
        { new string('e', 201), "event" },
        { "trailing ", "event" },
    };

    [Theory]
    [MemberData(nameof(BadTypes))]
    public async Task A_blank_or_oversized_type_is_refused_before_any_write(string value, string which)
    {
        var aggregateType = which == "aggregate" ? value : "order";
        var eventType = which == "event" ? value : "form.submission.created";
        await Assert.ThrowsAnyAsync<ArgumentException>(() => Store.AppendAsync(Guid.NewGuid(), aggregateType, 0, [Event(eventType)], Ct));
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    [Fact]
    public async Task Bad_input_gets_a_clear_typed_error()
    {
        var stream = Guid.NewGuid();
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(stream, "order", 0, [], Ct));
        Assert.Throws<ArgumentOutOfRangeException>(() => ExpectedVersion.Exactly(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => { ExpectedVersion v = -3; return v; });

        var notJson = Assert.Throws<PliersValidationException>(() => NewEvent.FromJson("x", "{not json"));
        Assert.Equal("json", Assert.Single(notJson.Errors).Keyword);

        var nul = await Assert.ThrowsAsync<PliersValidationException>(() => Store.AppendAsync(stream, "order", 0, [NewEvent.FromJson("x", """{"a": "bad\u0000"}""")], Ct));
        Assert.Equal("/0/data", Assert.Single(nul.Errors).Path);

        // An escaped backslash followed by "u0000" is ordinary text and is stored.
        await Store.AppendAsync(stream, "order", 0, [NewEvent.FromJson("x", """{"a": "\\u0000"}""")], Ct);

        var metadata = await Assert.ThrowsAsync<PliersValidationException>(() => Store.AppendAsync(stream, "order", 1, [Event() with { Metadata = JsonDocument.Parse("[1]").RootElement }], Ct));
        Assert.Equal("/0/metadata", Assert.Single(metadata.Errors).Path);

        var twice = Event();
        await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(stream, "order", 1, [twice, twice], Ct));
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    private sealed class CommandCounter : ILoggerProvider
    {
        private int _executed;

        public int Executed => Volatile.Read(ref _executed);

        public void Reset() => Interlocked.Exchange(ref _executed, 0);

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CommandCounter owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                // Only the append's statements: the background NOTIFY the store sends after a commit is not part of it.
                if (category == "Npgsql.Command" && eventId.Name == "CommandExecutionCompleted" && !formatter(state, exception).Contains("pg_notify", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref owner._executed);
                }
            }
        }
    }
}
