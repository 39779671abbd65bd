using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Subscriptions;

namespace Pliers.Data.Benchmarks;

/// <summary>
/// events.subscribe (issue 15): a durable named subscription with a no-op handler and its checkpointing against a
/// raw polling loop of the same global-read statement (every column, the data parsed, a checkpoint row updated per
/// batch). Backlog: the time to work through 100,000 stored events (10,000 in quick mode). Live: eight writers
/// append single events; delivered events per second and the latency from each append's acknowledgment to the
/// handler (p50/p99). Phases alternate pliers, raw, pliers, raw...
/// </summary>
internal sealed class SubscribeScenario : IScenario
{
    public string Name => "events.subscribe";

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var schemaName = "bench_sub_" + Guid.NewGuid().ToString("N")[..10];
        await using var setup = await context.MigratedPliersAsync(schemaName, cancellationToken);
        await using var raw = NpgsqlDataSource.Create(context.ConnectionString);
        var s = "\"" + schemaName + "\"";
        var results = new List<BenchmarkResult>();
        try
        {
            await using (var table = raw.CreateCommand($"create table {s}.raw_checkpoint (name text primary key, transaction_id xid8 not null, position bigint not null)"))
            {
                await table.ExecuteNonQueryAsync(cancellationToken);
            }

            var backlog = context.Quick ? 10_000 : 100_000;
            context.Log.WriteLine($"  seeding a backlog of {backlog:N0} events...");
            await setup.GetRequiredService<Pliers.Data.Seeding.PliersSeeder>().SeedAsync(new Pliers.Data.Seeding.SeedPlan(0, 0, backlog, 20261205), cancellationToken);
            var head = await setup.GetRequiredService<IEventStore>().GetHeadPositionAsync(cancellationToken);
            var rounds = context.Quick ? 2 : 3;

            var drained = new Dictionary<string, List<double>> { ["pliers"] = [], ["raw"] = [] };
            for (var round = 0; round < rounds; round++)
            {
                drained["pliers"].Add(await DrainPliersAsync(context, schemaName, "backlog-" + round, backlog, cancellationToken));
                drained["raw"].Add(await DrainRawAsync(raw, s, head, backlog, cancellationToken));
            }

            results.AddRange(drained.Select(d => new BenchmarkResult("events.subscribe.backlog", d.Key, Math.Round(backlog / (d.Value.Average() / 1000), 1), Math.Round(Median(d.Value), 1), Math.Round(d.Value.Max(), 1), d.Value.Count)));

            var seconds = context.Quick ? 5 : 15;
            var live = new Dictionary<string, (long Delivered, double Seconds, List<double> Latencies)> { ["pliers"] = (0, 0, []), ["raw"] = (0, 0, []) };
            for (var round = 0; round < rounds; round++)
            {
                foreach (var impl in new[] { "pliers", "raw" })
                {
                    var (delivered, elapsed, latencies) = await LiveAsync(context, schemaName, raw, s, impl, "live-" + round, seconds, cancellationToken);
                    var sum = live[impl];
                    sum.Latencies.AddRange(latencies);
                    live[impl] = (sum.Delivered + delivered, sum.Seconds + elapsed, sum.Latencies);
                }
            }

            foreach (var (impl, (delivered, elapsed, latencies)) in live)
            {
                var sorted = latencies.Order().ToArray();
                results.Add(new BenchmarkResult("events.subscribe.live", impl, Math.Round(delivered / elapsed, 1), Math.Round(sorted[sorted.Length / 2], 3), Math.Round(sorted[(int)Math.Min(sorted.Length - 1, Math.Ceiling(sorted.Length * 0.99) - 1)], 3), sorted.Length));
            }

            foreach (var r in results)
            {
                context.Log.WriteLine($"  {r.Name,-26} {r.Impl,-8} {r.OpsPerSec,12:F1} events/s  p50 {r.P50Ms,10:F3} ms  p99 {r.P99Ms,10:F3} ms");
            }

            return results;
        }
        finally
        {
            await using var drop = raw.CreateCommand($"drop schema if exists {s} cascade");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    /// <summary>Runs a new named subscription from the start until it handled <paramref name="expected"/> events; returns the milliseconds.</summary>
    private static async Task<double> DrainPliersAsync(BenchmarkContext context, string schema, string name, int expected, CancellationToken cancellationToken)
    {
        var handler = new CountingHandler(null);
        var clock = Stopwatch.StartNew();
        await using var host = await StartAsync(context, schema, name, handler, cancellationToken);
        await handler.WaitForAsync(expected, cancellationToken);
        var elapsed = clock.Elapsed.TotalMilliseconds; // handled; the member stores the checkpoint of each batch before reading the next
        await host.GetRequiredService<ISubscriptionStore>().WaitForCaughtUpAsync(name, cancellationToken);
        return elapsed;
    }

    /// <summary>The raw polling loop from the start until it read <paramref name="expected"/> events; returns the milliseconds.</summary>
    private static async Task<double> DrainRawAsync(NpgsqlDataSource raw, string s, GlobalPosition head, int expected, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var position = GlobalPosition.Start;
        var read = 0;
        while (position < head)
        {
            var (count, last) = await RawPollAsync(raw, s, "raw-backlog", position, null, cancellationToken);
            read += count;
            position = last ?? position;
        }

        if (read != expected)
        {
            throw new InvalidOperationException($"raw read {read} events, expected {expected}");
        }

        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>One raw poll: the library's global-read statement by hand, every column read, the checkpoint stored.</summary>
    private static async Task<(int Count, GlobalPosition? Last)> RawPollAsync(NpgsqlDataSource raw, string s, string name, GlobalPosition after, ConcurrentDictionary<Guid, long>? acknowledged, CancellationToken cancellationToken, List<double>? latencies = null)
    {
        await using var connection = await raw.OpenConnectionAsync(cancellationToken);
        var count = 0;
        GlobalPosition? last = null;
        await using (var command = new NpgsqlCommand($"select id, aggregate_id, aggregate_type, event_type, event_version, event_data, metadata, correlation_id, causation_id, created_at, position, transaction_id from {s}.events where (transaction_id, position) > (@t, @p) and transaction_id < pg_snapshot_xmin(pg_current_snapshot()) order by transaction_id, position limit 500", connection))
        {
            command.Parameters.Add(new NpgsqlParameter { ParameterName = "t", Value = after.TransactionId, DataTypeName = "xid8" });
            command.Parameters.Add(new NpgsqlParameter<long>("p", after.Position));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var id = reader.GetGuid(0);
                _ = (reader.GetGuid(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4), reader.GetFieldValue<JsonElement>(5), reader.IsDBNull(6), reader.GetFieldValue<DateTime>(9));
                last = new GlobalPosition(reader.GetFieldValue<ulong>(11), reader.GetInt64(10));
                count++;
                if (acknowledged is not null && latencies is not null)
                {
                    latencies.Add(acknowledged.TryGetValue(id, out var at) ? Math.Max(0, Stopwatch.GetElapsedTime(at).TotalMilliseconds) : 0);
                }
            }
        }

        if (last is { } l)
        {
            await using var store = new NpgsqlCommand($"insert into {s}.raw_checkpoint values (@n, @t, @p) on conflict (name) do update set transaction_id = excluded.transaction_id, position = excluded.position", connection);
            store.Parameters.Add(new NpgsqlParameter<string>("n", name));
            store.Parameters.Add(new NpgsqlParameter { ParameterName = "t", Value = l.TransactionId, DataTypeName = "xid8" });
            store.Parameters.Add(new NpgsqlParameter<long>("p", l.Position));
            await store.ExecuteNonQueryAsync(cancellationToken);
        }

        return (count, last);
    }

    /// <summary>Eight writers append for <paramref name="seconds"/> while one consumer follows; returns what it delivered.</summary>
    private static async Task<(long Delivered, double Seconds, List<double> Latencies)> LiveAsync(BenchmarkContext context, string schema, NpgsqlDataSource raw, string s, string impl, string name, int seconds, CancellationToken cancellationToken)
    {
        await using var writerHost = await context.MigratedPliersAsync(schema, cancellationToken);
        var store = writerHost.GetRequiredService<IEventStore>();
        var head = await store.GetHeadPositionAsync(cancellationToken);
        var acknowledged = new ConcurrentDictionary<Guid, long>();
        var latencies = new List<double>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        long delivered = 0;
        var handler = new CountingHandler(acknowledged);
        ServiceProvider? host = null;
        Task consumer;
        if (impl == "pliers")
        {
            host = await StartAsync(context, schema, name, handler, cancellationToken, SubscriptionStart.After(head));
            await host.GetRequiredService<ISubscriptionStore>().WaitForCaughtUpAsync(name, cancellationToken);
            consumer = Task.CompletedTask;
        }
        else
        {
            consumer = Task.Run(async () =>
            {
                var position = head;
                while (!stop.IsCancellationRequested)
                {
                    var (count, last) = await RawPollAsync(raw, s, name, position, acknowledged, CancellationToken.None, latencies);
                    delivered += count;
                    position = last ?? position;
                    if (count < 500)
                    {
                        await Task.Delay(10, CancellationToken.None); // a polling loop's wait between empty reads
                    }
                }
            }, CancellationToken.None);
        }

        var clock = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var stream = Guid.NewGuid();
            var version = 0;
            while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
            {
                var e = NewEvent.Create("bench.happened", new BenchEvent(version, "live"));
                await store.AppendAsync(stream, "bench", version, [e], cancellationToken);
                acknowledged[e.Id] = Stopwatch.GetTimestamp();
                version++;
            }

            return version;
        }, cancellationToken)).ToArray();
        var appended = (await Task.WhenAll(writers)).Sum();
        if (host is not null)
        {
            await handler.WaitForAsync(appended, cancellationToken);
            var elapsed = clock.Elapsed.TotalSeconds;
            await host.DisposeAsync();
            return (handler.Count, elapsed, handler.Latencies.ToList());
        }

        while (Interlocked.Read(ref delivered) < appended)
        {
            await Task.Delay(5, cancellationToken);
        }

        var took = clock.Elapsed.TotalSeconds;
        await stop.CancelAsync();
        await consumer;
        return (delivered, took, latencies);
    }

    private static async Task<ServiceProvider> StartAsync(BenchmarkContext context, string schema, string name, CountingHandler handler, CancellationToken cancellationToken, SubscriptionStart? start = null)
    {
        var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = context.ConnectionString;
                o.Schema = schema;
            })
            .AddSingleton(handler)
            .AddPliersSubscription<CountingHandler>(name, o => o.StartFrom = start ?? SubscriptionStart.Beginning)
            .BuildServiceProvider();
        foreach (var hosted in services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(cancellationToken);
        }

        return services;
    }

    /// <summary>A no-op handler that counts, and measures the latency from acknowledgment when told the times.</summary>
    private sealed class CountingHandler(ConcurrentDictionary<Guid, long>? acknowledged) : ISubscriptionHandler
    {
        private long _count;

        public long Count => Interlocked.Read(ref _count);

        public ConcurrentQueue<double> Latencies { get; } = new();

        public Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken)
        {
            if (acknowledged is not null)
            {
                Latencies.Enqueue(acknowledged.TryGetValue(@event.Id, out var at) ? Math.Max(0, Stopwatch.GetElapsedTime(at).TotalMilliseconds) : 0);
            }

            Interlocked.Increment(ref _count);
            return Task.CompletedTask;
        }

        public async Task WaitForAsync(long count, CancellationToken cancellationToken)
        {
            while (Count < count)
            {
                await Task.Delay(2, cancellationToken);
            }
        }
    }
}
