using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;

namespace Pliers.Data.Benchmarks;

/// <summary>
/// <c>pool.load</c>: 200 concurrent callers through a pool of 20 connections (each appends an event and reads its
/// stream back); reports throughput and p99 and fails on any error. <c>raw</c> does the same two statements by hand.
/// </summary>
internal sealed class PoolScenario : IScenario
{
    private const int Callers = 200;
    private const int PoolSize = 20;

    public string Name => "pool.load";

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var schema = "bench_pool_" + Guid.NewGuid().ToString("N")[..10];
        var pooled = new NpgsqlConnectionStringBuilder(context.ConnectionString) { MaxPoolSize = PoolSize, Timeout = 30 }.ConnectionString;
        await (await context.MigratedPliersAsync(schema, cancellationToken)).DisposeAsync();
        await using var dataSource = NpgsqlDataSource.Create(pooled);
        await using var services = new ServiceCollection()
            .AddSingleton(dataSource)
            .AddPliersData(o =>
            {
                o.ConnectionString = pooled;
                o.Schema = schema;
            })
            .BuildServiceProvider();
        var store = services.GetRequiredService<IEventStore>();
        var perCaller = context.Quick ? 5 : 15;
        var errors = 0;
        try
        {
            // Eight alternating rounds (four until 2026-12-05: one slow round then moved the ratio by ~0.05).
            var results = await context.MeasureConcurrentInterleavedAsync(Name, 8, Callers, perCaller, ("pliers", async (caller, i) =>
            {
                try
                {
                    var stream = Guid.NewGuid();
                    await store.AppendAsync(stream, "load", 0, [NewEvent.FromJson("load.tick", $$"""{"caller": {{caller}}, "i": {{i}}}""")], cancellationToken);
                    await foreach (var _ in store.ReadStreamAsync(stream, 1, cancellationToken))
                    {
                    }
                }
                catch (Exception e) when (e is NpgsqlException or PliersDataException)
                {
                    Interlocked.Increment(ref errors);
                    throw;
                }
            }), ("raw", async (caller, i) =>
            {
                var stream = Guid.NewGuid();
                await using (var insert = dataSource.CreateCommand($"insert into \"{schema}\".events (id, aggregate_id, aggregate_type, event_type, event_data, event_version) values (@id, @stream, 'load', 'load.tick', @data::jsonb, 1)"))
                {
                    insert.Parameters.Add(new NpgsqlParameter<Guid>("id", Guid.CreateVersion7()));
                    insert.Parameters.Add(new NpgsqlParameter<Guid>("stream", stream));
                    insert.Parameters.Add(new NpgsqlParameter<string>("data", $$"""{"caller": {{caller}}, "i": {{i}}}"""));
                    await insert.ExecuteNonQueryAsync(cancellationToken);
                }

                await using var read = dataSource.CreateCommand($"select id, event_data from \"{schema}\".events where aggregate_id = @stream order by event_version");
                read.Parameters.Add(new NpgsqlParameter<Guid>("stream", stream));
                await using var reader = await read.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken))
                {
                }
            }));
            context.Log.WriteLine($"  pool.load: {Callers} callers, pool of {PoolSize}, {errors} errors");
            if (errors > 0)
            {
                throw new InvalidOperationException($"pool.load saw {errors} errors");
            }

            return results;
        }
        finally
        {
            await using var drop = dataSource.CreateCommand($"drop schema if exists \"{schema}\" cascade");
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }
}
