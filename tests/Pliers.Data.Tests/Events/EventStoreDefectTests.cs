using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Events;

/// <summary>Regression tests for the event store defects found when the library was tried from outside (issue 10).</summary>
public sealed class EventStoreDefectTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private IEventStore Store => _host.Services.GetRequiredService<IEventStore>();

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static NewEvent Event(int n = 0) => NewEvent.FromJson("order.changed", $$"""{"n": {{n}}}""");

    [Fact]
    public async Task An_idempotent_retry_after_later_appends_returns_its_own_original_result()
    {
        var stream = Guid.NewGuid();
        var batch = new[] { Event(1), Event(2) };
        var original = await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, batch, Ct);
        await Store.AppendAsync(stream, "order", 2, [Event(3), Event(4), Event(5)], Ct);

        var retried = await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, batch, Ct);

        Assert.Equal(2, original.StreamVersion);
        Assert.Equal(original.StreamVersion, retried.StreamVersion);
        Assert.Equal(original.Positions, retried.Positions);
        Assert.Equal(original.TransactionId, retried.TransactionId);

        // The same for "any version" retries.
        var anyBatch = new[] { Event(6) };
        var anyOriginal = await Store.AppendAsync(stream, "order", ExpectedVersion.Any, anyBatch, Ct);
        await Store.AppendAsync(stream, "order", ExpectedVersion.Any, [Event(7)], Ct);
        var anyRetried = await Store.AppendAsync(stream, "order", ExpectedVersion.Any, anyBatch, Ct);
        Assert.Equal(6, anyOriginal.StreamVersion);
        Assert.Equal(anyOriginal, anyRetried with { Positions = anyOriginal.Positions });
        Assert.Equal(anyOriginal.Positions, anyRetried.Positions);
    }

    [Fact]
    public async Task Any_version_under_contention_never_fails_and_returns_the_version_of_its_own_last_event()
    {
        var stream = Guid.NewGuid();
        var results = new ConcurrentBag<(Guid LastId, AppendResult Result)>();
        var barrier = new AsyncBarrier(16);
        var writers = Enumerable.Range(0, 16).Select(w => Task.Run(
            async () =>
            {
                for (var i = 0; i < 8; i++)
                {
                    var batch = new[] { Event(w), Event(w) };
                    await barrier.SignalAndWaitAsync(Ct); // all 16 append at once, every round
                    results.Add((batch[^1].Id, await Store.AppendAsync(stream, "order", ExpectedVersion.Any, batch, Ct)));
                }
            },
            Ct)).ToArray();
        await Task.WhenAll(writers);

        var stored = new Dictionary<Guid, long>();
        await foreach (var e in Store.ReadStreamAsync(stream, 1, Ct))
        {
            stored[e.Id] = e.EventVersion;
        }

        Assert.Equal(16 * 8 * 2, stored.Count);
        Assert.All(results, r => Assert.Equal(stored[r.LastId], r.Result.StreamVersion));
    }

    [Fact]
    public async Task A_subscriber_behind_a_held_horizon_gets_the_event_after_the_holder_ends_without_any_notify()
    {
        // The holder takes a transaction id before the append, so the appended event sits behind the horizon.
        await using var holder = await postgres.OpenAsync();
        var held = await holder.BeginTransactionAsync(Ct);
        await using (var take = new NpgsqlCommand("select pg_current_xact_id()", holder, held))
        {
            await take.ExecuteScalarAsync(Ct);
        }

        var stream = Guid.NewGuid();
        await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, [Event(1)], Ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(TimeSpan.FromSeconds(30));
        var received = Task.Run(
            async () =>
            {
                await foreach (var e in Store.SubscribeAllAsync(GlobalPosition.Start, new EventFilter { AggregateTypes = ["order"] }, stop.Token))
                {
                    if (e.AggregateId == stream)
                    {
                        return e;
                    }
                }

                return null;
            },
            Ct);

        // Let the subscriber go round its wait loop a few times, then end the holder: a rollback sends no NOTIFY.
        var lag = await Eventually.WaitAsync(() => Store.GetReaderLagAsync(Ct), l => l > TimeSpan.FromMilliseconds(1500), "the horizon held for 1.5 s");
        Assert.False(received.IsCompleted, "nothing can be delivered while the horizon is held");
        await held.RollbackAsync(Ct);

        var delivered = await received; // bounded by the 30 s token: a subscriber stuck in a 0 ms "wait forever" fails here
        Assert.NotNull(delivered);
        Assert.False(stop.IsCancellationRequested, "the subscriber found the event by itself, without a NOTIFY");
        Assert.True(lag > TimeSpan.Zero);
    }

    [Fact]
    public async Task Cancelled_reads_and_subscriptions_end_with_OperationCanceledException_and_yield_nothing_after()
    {
        var stream = Guid.NewGuid();
        await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, Enumerable.Range(0, 50).Select(Event).ToArray(), Ct);
        await Eventually.WaitAsync(async () => (await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 100, null, Ct))).Count, c => c == 50, "the 50 events visible to global readers");

        await AssertCancelsAfterFirstAsync(t => Store.ReadStreamAsync(stream, 1, t));
        await AssertCancelsAfterFirstAsync(t => Store.ReadStreamBackwardAsync(stream, null, t));
        await AssertCancelsAfterFirstAsync(t => Store.ReadAllAsync(GlobalPosition.Start, 100, null, t));
        await AssertCancelsAfterFirstAsync(t => Store.SubscribeAllAsync(GlobalPosition.Start, null, t));

        // A subscription waiting for new events ends promptly too, with the exception.
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var count = 0;
        var subscription = Task.Run(
            async () =>
            {
                await foreach (var e in Store.SubscribeAllAsync(GlobalPosition.Start, null, idle.Token))
                {
                    count++;
                }
            },
            Ct);
        await Eventually.WaitAsync(() => Volatile.Read(ref count) == 50, "the subscriber caught up");
        await idle.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => subscription);
    }

    private static async Task AssertCancelsAfterFirstAsync(Func<CancellationToken, IAsyncEnumerable<StoredEvent>> read)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var after = 0;
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            var first = true;
            await foreach (var e in read(cancel.Token))
            {
                if (first)
                {
                    first = false;
                    await cancel.CancelAsync();
                    continue;
                }

                after++;
            }
        });
        Assert.Equal(0, after);
        Assert.Equal(cancel.Token, error.CancellationToken);
    }


    [Fact]
    public async Task Events_deeper_than_the_depth_limit_are_refused_and_every_stored_event_reads_back()
    {
        var limit = _host.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PliersDataOptions>>().Value.MaxDocumentDepth;
        var stream = Guid.NewGuid();

        // At the limit: stored and read back, by stream and by global readers.
        await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, [NewEvent.FromJson("deep", TestJson.Nested(limit))], Ct);
        var read = await TestJson.ToListAsync(Store.ReadStreamAsync(stream, 1, Ct));
        Assert.Equal(limit, Depth(Assert.Single(read).Data));
        await Eventually.WaitAsync(async () => (await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 10, null, Ct))).Count, c => c == 1, "the deep event in a global read");

        // One level more: refused at write time with the path and the rule, nothing stored.
        var error = await Assert.ThrowsAsync<PliersValidationException>(() => Store.AppendAsync(stream, "order", 1, [NewEvent.FromJson("deeper", TestJson.Nested(limit + 1))], Ct));
        Assert.Equal("maxDepth", Assert.Single(error.Errors).Keyword);
        Assert.Equal("/0/data", error.Errors[0].Path);
        var metadata = await Assert.ThrowsAsync<PliersValidationException>(() => Store.AppendAsync(stream, "order", 1, [Event() with { Metadata = JsonDocument.Parse(TestJson.Nested(limit + 1), new JsonDocumentOptions { MaxDepth = 1000 }).RootElement }], Ct));
        Assert.Equal("/0/metadata", metadata.Errors[0].Path);
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

    private static int Depth(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => 1 + element.EnumerateObject().Select(p => Depth(p.Value)).DefaultIfEmpty(0).Max(),
        JsonValueKind.Array => 1 + element.EnumerateArray().Select(Depth).DefaultIfEmpty(0).Max(),
        _ => 0,
    };

    [Fact]
    public async Task A_stream_keeps_the_aggregate_type_of_its_first_event()
    {
        var stream = Guid.NewGuid();
        await Store.AppendAsync(stream, "order", ExpectedVersion.NoStream, [Event(1)], Ct);

        var exact = await Assert.ThrowsAsync<PliersConflictException>(() => Store.AppendAsync(stream, "invoice", 1, [Event(2)], Ct));
        Assert.Equal("events_stream_aggregate_type", exact.Rule);
        var any = await Assert.ThrowsAsync<PliersConflictException>(() => Store.AppendAsync(stream, "invoice", ExpectedVersion.Any, [Event(2)], Ct));
        Assert.Equal("events_stream_aggregate_type", any.Rule);

        Assert.Equal(1L, await Store.GetStreamVersionAsync(stream, Ct));
        Assert.Equal(2L, (await Store.AppendAsync(stream, "order", 1, [Event(2)], Ct)).StreamVersion);
    }

    [Theory]
    [InlineData("form_definition")]
    [InlineData("form_submission")]
    public async Task The_library_s_own_aggregate_types_cannot_be_appended_through_the_event_store(string aggregateType)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => Store.AppendAsync(Guid.NewGuid(), aggregateType, ExpectedVersion.Any, [Event()], Ct));
        Assert.Equal("aggregateType", error.ParamName);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }

}

/// <summary>Reader lag is right for the application role, and counts prepared transactions.</summary>
public sealed class ReaderLagTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_application_role_sees_the_lag_of_other_roles_transactions_and_of_prepared_ones()
    {
        await using var owner = await PliersHost.MigratedAsync(postgres);
        var role = "lag_" + Guid.NewGuid().ToString("N")[..12];
        await postgres.ExecuteAsync($"create role {role} login password 'lag-pw'");
        try
        {
            Assert.Equal(0, await Pliers.Data.Cli.CliApp.RunAsync(["grant", "--role", role, "--connection", postgres.ConnectionString, "--schema", owner.Schema], TextWriter.Null, TextWriter.Null, Ct));
            await using var app = new ServiceCollection()
                .AddPliersData(o =>
                {
                    o.ConnectionString = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = role, Password = "lag-pw" }.ConnectionString;
                    o.Schema = owner.Schema;
                })
                .BuildServiceProvider();
            var store = app.GetRequiredService<IEventStore>();

            // 1. A transaction of another role (the superuser) holds the horizon; an event commits behind it.
            await using (var holder = await postgres.OpenAsync())
            {
                await using var held = await holder.BeginTransactionAsync(Ct);
                await using (var take = new NpgsqlCommand("select pg_current_xact_id()", holder, held))
                {
                    await take.ExecuteScalarAsync(Ct);
                }

                await store.AppendAsync(Guid.NewGuid(), "order", ExpectedVersion.NoStream, [NewEvent.FromJson("order.placed", "{}")], Ct);
                Assert.True(await store.GetReaderLagAsync(Ct) > TimeSpan.Zero, "an unprivileged role sees the lag another role's transaction causes");
                await held.RollbackAsync(Ct);
            }

            // 2. A prepared transaction holds it the same way, with no session behind it at all.
            var gid = "pliers-lag-" + Guid.NewGuid().ToString("N");
            await using (var preparer = await postgres.OpenAsync())
            {
                await using var begin = new NpgsqlCommand($"begin; select pg_current_xact_id(); prepare transaction '{gid}'", preparer);
                await begin.ExecuteNonQueryAsync(Ct);
            }

            try
            {
                await store.AppendAsync(Guid.NewGuid(), "order", ExpectedVersion.NoStream, [NewEvent.FromJson("order.placed", "{}")], Ct);
                Assert.True(await store.GetReaderLagAsync(Ct) > TimeSpan.Zero, "a prepared transaction holds readers back");
            }
            finally
            {
                await postgres.ExecuteAsync($"rollback prepared '{gid}'");
            }

            await Eventually.WaitAsync(() => store.GetReaderLagAsync(Ct), l => l == TimeSpan.Zero, "no lag once nothing holds the horizon");
        }
        finally
        {
            await postgres.ExecuteAsync($"drop owned by {role} cascade; drop role if exists {role}");
        }
    }
}
