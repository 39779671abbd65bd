using System.Text.Json;
using JasperFx;
using Marten;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Events;

namespace Pliers.Data.Benchmarks;

/// <summary>The ~100-byte payload every implementation appends.</summary>
internal sealed record BenchEvent(int N, string Text);

/// <summary>
/// Event store scenarios: Pliers' <see cref="IEventStore"/>, raw Npgsql inserts into an identical table
/// (version known by the caller, no check, no idempotency), and Marten's event store, on one server in one
/// run with the same payload, measured in alternating rounds.
/// </summary>
internal sealed class EventScenarios : IScenario, IAsyncDisposable
{
    private const string Text = "about a hundred bytes of payload, like a small domain event carries in practice!";
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];
    private ServiceProvider? _pliers;
    private NpgsqlDataSource? _raw;
    private DocumentStore? _marten;

    public string Name => "events";

    private string PliersSchema => "bench_pliers_" + _suffix;

    private string RawSchema => "bench_raw_" + _suffix;

    private string MartenSchema => "bench_marten_" + _suffix;

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        await SetUpAsync(context, cancellationToken);
        var results = new List<BenchmarkResult>();
        var store = _pliers!.GetRequiredService<IEventStore>();
        if (context.Events > 0)
        {
            // The cost curve: the store already holds this many events (streams of ten), written by the library's
            // seeder exactly as `pliers-data seed --events N` writes them. The raw baseline's table stays empty.
            context.Log.WriteLine($"  seeding {context.Events:N0} events...");
            var seeding = System.Diagnostics.Stopwatch.StartNew();
            await _pliers!.GetRequiredService<Pliers.Data.Seeding.PliersSeeder>().SeedAsync(new Pliers.Data.Seeding.SeedPlan(0, 0, context.Events, 20261205), cancellationToken);
            await using (var analyze = _raw!.CreateCommand($"analyze {PliersSchema}.events"))
            {
                analyze.CommandTimeout = 3600;
                await analyze.ExecuteNonQueryAsync(cancellationToken);
            }

            context.Log.WriteLine($"  seeded in {seeding.Elapsed.TotalSeconds:F0} s");
        }

        // events.readall: 1,000 events of the global order from the middle of the store, the library against the
        // same keyset query by hand.
        {
            var writer = Guid.NewGuid();
            for (var b = 0; b < 20; b++)
            {
                await store.AppendAsync(writer, "bench", b * 100, Enumerable.Range(0, 100).Select(n => NewEvent.Create("bench.happened", new BenchEvent(n, Text))).ToArray(), cancellationToken);
            }

            GlobalPosition middle;
            await using (var find = _raw!.CreateCommand($"select transaction_id::text::bigint, position from {PliersSchema}.events order by transaction_id, position offset (select count(*) / 2 from {PliersSchema}.events) - 500 limit 1"))
            {
                find.CommandTimeout = 3600;
                await using var reader = await find.ExecuteReaderAsync(cancellationToken);
                await reader.ReadAsync(cancellationToken);
                middle = new GlobalPosition((ulong)reader.GetInt64(0), reader.GetInt64(1));
            }

            var readAlls = context.Quick ? 120 : 600;
            results.AddRange(await context.MeasureInterleavedAsync(
                "events.readall",
                rounds: 6,
                warmup: 10,
                iterationsPerRound: readAlls / 6,
                ("pliers", async _ =>
                {
                    var count = 0;
                    await foreach (var e in store.ReadAllAsync(middle, 1000, null, cancellationToken))
                    {
                        count++;
                    }

                    Check(count);
                }, 1000),
                ("raw", _ => RawReadAllAsync(middle, cancellationToken), 1000)));
        }
        var single = context.Quick ? 1500 : 5000;
        var batches = context.Quick ? 100 : 400;
        var perWriter = context.Quick ? 300 : 1000;
        var reads = context.Quick ? 200 : 1000;

        // events.append1: one event per append, sequential, round-robin over 100 existing streams per implementation.
        {
            var streams = Enumerable.Range(0, 300).Select(_ => Guid.NewGuid()).ToArray();
            var versions = new long[streams.Length];
            results.AddRange(await context.MeasureInterleavedAsync(
                "events.append1",
                rounds: 6,
                warmup: 100,
                iterationsPerRound: single / 6,
                ("pliers", async i =>
                {
                    var s = 0 + ((i + 1000) % 100);
                    await store.AppendAsync(streams[s], "bench", versions[s], [NewEvent.Create("bench.happened", new BenchEvent(i, Text))], cancellationToken);
                    versions[s]++;
                }, 1),
                ("raw", async i =>
                {
                    var s = 100 + ((i + 1000) % 100);
                    await RawInsertAsync(streams[s], versions[s], 1, i, cancellationToken);
                    versions[s]++;
                }, 1),
                ("marten", async i =>
                {
                    var s = 200 + ((i + 1000) % 100);
                    await using var session = _marten!.LightweightSession();
                    session.Events.Append(streams[s], versions[s] + 1, new BenchEvent(i, Text));
                    await session.SaveChangesAsync(cancellationToken);
                    versions[s]++;
                }, 1)));
        }

        // events.append100: batches of 100 to a new stream each; ops_per_sec counts events.
        results.AddRange(await context.MeasureInterleavedAsync(
            "events.append100",
            rounds: 6,
            warmup: 10,
            iterationsPerRound: batches / 6,
            ("pliers", async i =>
            {
                var events = Enumerable.Range(0, 100).Select(n => NewEvent.Create("bench.happened", new BenchEvent(n, Text))).ToArray();
                await store.AppendAsync(Guid.NewGuid(), "bench", ExpectedVersion.NoStream, events, cancellationToken);
            }, 100),
            ("raw", i => RawInsertAsync(Guid.NewGuid(), 0, 100, i, cancellationToken), 100),
            ("marten", async i =>
            {
                await using var session = _marten!.LightweightSession();
                session.Events.StartStream(Guid.NewGuid(), Enumerable.Range(0, 100).Select(n => (object)new BenchEvent(n, Text)).ToArray());
                await session.SaveChangesAsync(cancellationToken);
            }, 100)));

        // events.append1x8: 8 writers at once, each on its own stream, one event per append.
        {
            var streams = Enumerable.Range(0, 8).Select(_ => Guid.NewGuid()).ToArray();
            var versions = new long[8];
            results.Add(await context.MeasureConcurrentAsync("events.append1x8", "pliers", 8, perWriter, async (w, i) =>
            {
                await store.AppendAsync(streams[w], "bench", versions[w], [NewEvent.Create("bench.happened", new BenchEvent(i, Text))], cancellationToken);
                versions[w]++;
            }));
            streams = Enumerable.Range(0, 8).Select(_ => Guid.NewGuid()).ToArray();
            Array.Clear(versions);
            results.Add(await context.MeasureConcurrentAsync("events.append1x8", "raw", 8, perWriter, async (w, i) =>
            {
                await RawInsertAsync(streams[w], versions[w], 1, i, cancellationToken);
                versions[w]++;
            }));
            streams = Enumerable.Range(0, 8).Select(_ => Guid.NewGuid()).ToArray();
            Array.Clear(versions);
            results.Add(await context.MeasureConcurrentAsync("events.append1x8", "marten", 8, perWriter, async (w, i) =>
            {
                await using var session = _marten!.LightweightSession();
                session.Events.Append(streams[w], versions[w] + 1, new BenchEvent(i, Text));
                await session.SaveChangesAsync(cancellationToken);
                versions[w]++;
            }));
        }

        // events.read1000: read a whole 1,000-event stream into memory.
        {
            var pliersStream = Guid.NewGuid();
            for (var b = 0; b < 10; b++)
            {
                await store.AppendAsync(pliersStream, "bench", b * 100, Enumerable.Range(0, 100).Select(n => NewEvent.Create("bench.happened", new BenchEvent(n, Text))).ToArray(), cancellationToken);
            }

            var rawStream = Guid.NewGuid();
            for (var b = 0; b < 10; b++)
            {
                await RawInsertAsync(rawStream, b * 100, 100, b, cancellationToken);
            }

            var martenStream = Guid.NewGuid();
            await using (var session = _marten!.LightweightSession())
            {
                session.Events.StartStream(martenStream, Enumerable.Range(0, 1000).Select(n => (object)new BenchEvent(n, Text)).ToArray());
                await session.SaveChangesAsync(cancellationToken);
            }

            results.AddRange(await context.MeasureInterleavedAsync(
                "events.read1000",
                rounds: 6,
                warmup: 20,
                iterationsPerRound: reads / 6,
                ("pliers", async _ =>
                {
                    var count = 0;
                    await foreach (var e in store.ReadStreamAsync(pliersStream, 1, cancellationToken))
                    {
                        count++;
                    }

                    Check(count);
                }, 1),
                ("raw", async _ => Check(await RawReadAsync(rawStream, cancellationToken)), 1),
                ("marten", async _ =>
                {
                    await using var session = _marten!.QuerySession();
                    Check((await session.Events.FetchStreamAsync(martenStream, token: cancellationToken)).Count);
                }, 1)));
        }

        return results;
    }

    /// <summary>The same keyset page of the global order by hand.</summary>
    private async Task RawReadAllAsync(GlobalPosition after, CancellationToken cancellationToken)
    {
        // The same statement shape as the library's (xid8 as a typed parameter: a text cast inside the row comparison
        // measured 3-4 s per page at 10M rows, the planner no longer used it as an index condition; the same horizon)
        // and the same work per row as the raw stream read: every column, the data parsed into a JsonElement.
        await using var command = _raw!.CreateCommand($"select id, aggregate_id, aggregate_type, event_type, event_version, event_data, metadata, correlation_id, causation_id, created_at, position, transaction_id from {PliersSchema}.events where (transaction_id, position) > (@t, @p) and transaction_id < pg_snapshot_xmin(pg_current_snapshot()) order by transaction_id, position limit 1000");
        command.Parameters.Add(new NpgsqlParameter { ParameterName = "t", Value = after.TransactionId, DataTypeName = "xid8" });
        command.Parameters.Add(new NpgsqlParameter<long>("p", after.Position));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<(Guid, JsonElement, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetGuid(0), reader.GetFieldValue<JsonElement>(5), reader.GetInt64(10)));
        }

        var count = rows.Count;
        Check(count);
    }

    private static void Check(int count)
    {
        if (count != 1000)
        {
            throw new InvalidOperationException($"read {count} events, expected 1000");
        }
    }

    private async Task SetUpAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        _pliers = await context.MigratedPliersAsync(PliersSchema, cancellationToken);

        // The raw baseline writes into an identical table (same columns, constraints and indexes), created by
        // the same migrations in a schema of its own; it just skips the version check and idempotency.
        await (await context.MigratedPliersAsync(RawSchema, cancellationToken)).DisposeAsync();

        _raw = NpgsqlDataSource.Create(context.ConnectionString);

        _marten = DocumentStore.For(o =>
        {
            o.Connection(context.ConnectionString);
            o.DatabaseSchemaName = MartenSchema;
            o.Events.DatabaseSchemaName = MartenSchema;
            o.AutoCreateSchemaObjects = AutoCreate.All;
            o.Events.AddEventType<BenchEvent>();
        });
        await _marten.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
    }

    /// <summary>The floor: one insert statement of <paramref name="count"/> rows with versions the caller already knows.</summary>
    private async Task RawInsertAsync(Guid stream, long version, int count, int n, CancellationToken cancellationToken)
    {
        await using var command = _raw!.CreateCommand($"""
            insert into {RawSchema}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version)
            select id, @stream, 'bench', 'bench.happened', data, @version + ord
            from unnest(@ids, @data) with ordinality as e(id, data, ord)
            """);
        command.Parameters.Add(new NpgsqlParameter<Guid>("stream", NpgsqlDbType.Uuid) { TypedValue = stream });
        command.Parameters.Add(new NpgsqlParameter<int>("version", NpgsqlDbType.Integer) { TypedValue = (int)version });
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = Enumerable.Range(0, count).Select(_ => Guid.CreateVersion7()).ToArray() });
        command.Parameters.Add(new NpgsqlParameter<string[]>("data", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = Enumerable.Range(0, count).Select(i => JsonSerializer.Serialize(new BenchEvent(n + i, Text))).ToArray() });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<int> RawReadAsync(Guid stream, CancellationToken cancellationToken)
    {
        await using var command = _raw!.CreateCommand($"select id, aggregate_id, aggregate_type, event_type, event_version, event_data, metadata, correlation_id, causation_id, created_at, position, transaction_id from {RawSchema}.events where aggregate_id = @stream order by event_version");
        command.Parameters.Add(new NpgsqlParameter<Guid>("stream", NpgsqlDbType.Uuid) { TypedValue = stream });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<(Guid, JsonElement, long)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add((reader.GetGuid(0), reader.GetFieldValue<JsonElement>(5), reader.GetInt64(10)));
        }

        return rows.Count;
    }

    public async ValueTask DisposeAsync()
    {
        if (_marten is not null)
        {
            _marten.Dispose();
        }

        if (_pliers is not null)
        {
            await _pliers.DisposeAsync();
        }

        if (_raw is not null)
        {
            await using (var drop = _raw.CreateCommand($"drop schema if exists {PliersSchema} cascade; drop schema if exists {RawSchema} cascade; drop schema if exists {MartenSchema} cascade"))
            {
                await drop.ExecuteNonQueryAsync();
            }

            await _raw.DisposeAsync();
        }
    }
}
