using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pliers.Data.Benchmarks;

/// <summary>One measured row: a scenario run by one implementation.</summary>
internal sealed record BenchmarkResult(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("impl")] string Impl,
    [property: JsonPropertyName("ops_per_sec")] double OpsPerSec,
    [property: JsonPropertyName("p50_ms")] double P50Ms,
    [property: JsonPropertyName("p99_ms")] double P99Ms,
    [property: JsonPropertyName("samples")] int Samples);

/// <summary>What every scenario gets: the server, the mode and the measuring helpers.</summary>
internal sealed class BenchmarkContext(string connectionString, bool quick, TextWriter log)
{
    public string ConnectionString { get; } = connectionString;

    public bool Quick { get; } = quick;

    public TextWriter Log { get; } = log;

    /// <summary>Submissions the forms scenarios seed (the cost curve's row count).</summary>
    public int Submissions { get; init; } = 100_000;

    /// <summary>Whether the forms scenarios seed with the library's seeder in the cost curve's shape (1,000 forms, 100 archived versions).</summary>
    public bool SeederShape { get; init; }

    /// <summary>Events seeded into the event store before the events scenarios (0: an empty store).</summary>
    public int Events { get; init; }

    /// <summary>A host's service provider on a new, migrated Pliers schema of its own.</summary>
    public async Task<ServiceProvider> MigratedPliersAsync(string schema, CancellationToken cancellationToken)
    {
        var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = ConnectionString;
                o.Schema = schema;
            })
            .BuildServiceProvider();
        await services.MigratePliersDatabaseAsync(cancellationToken);
        return services;
    }

    /// <summary>
    /// Runs <paramref name="operation"/> <paramref name="warmup"/> times unmeasured, then <paramref name="iterations"/> times
    /// timing each call; <paramref name="setup"/> runs before each call outside the timing. <paramref name="opsPerCall"/>
    /// lets a batched call count the items it handled.
    /// </summary>
    public async Task<BenchmarkResult> MeasureAsync(
        string name,
        string impl,
        int warmup,
        int iterations,
        Func<int, Task> operation,
        Func<int, Task>? setup = null,
        int opsPerCall = 1)
    {
        for (var i = 0; i < warmup; i++)
        {
            if (setup is not null)
            {
                await setup(-1 - i);
            }

            await operation(-1 - i);
        }

        var latencies = new double[iterations];
        var measured = TimeSpan.Zero;
        for (var i = 0; i < iterations; i++)
        {
            if (setup is not null)
            {
                await setup(i);
            }

            var started = Stopwatch.GetTimestamp();
            await operation(i);
            var elapsed = Stopwatch.GetElapsedTime(started);
            measured += elapsed;
            latencies[i] = elapsed.TotalMilliseconds;
        }

        Array.Sort(latencies);
        return Report(name, impl, latencies, (double)iterations * opsPerCall, measured);
    }

    /// <summary>
    /// Runs <paramref name="workers"/> loops at once, each calling <paramref name="operation"/> <paramref name="perWorker"/>
    /// times after one unmeasured warm-up call; throughput is all items over the wall time.
    /// </summary>
    public async Task<BenchmarkResult> MeasureConcurrentAsync(
        string name,
        string impl,
        int workers,
        int perWorker,
        Func<int, int, Task> operation,
        int opsPerCall = 1)
    {
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => operation(w, -1)));
        var latencies = new double[workers * perWorker];
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < perWorker; i++)
            {
                var t = Stopwatch.GetTimestamp();
                await operation(w, i);
                latencies[(w * perWorker) + i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            }
        })));
        var wall = Stopwatch.GetElapsedTime(started);
        Array.Sort(latencies);
        return Report(name, impl, latencies, (double)workers * perWorker * opsPerCall, wall);
    }

    /// <summary>
    /// <see cref="MeasureConcurrentAsync"/> for several implementations in alternating rounds (as
    /// <see cref="MeasureInterleavedAsync"/> does for sequential calls): each round runs every implementation with
    /// <paramref name="workers"/> concurrent loops of <paramref name="perWorker"/> calls; an implementation's
    /// throughput is all its items over the sum of its rounds' wall times.
    /// </summary>
    public async Task<IReadOnlyList<BenchmarkResult>> MeasureConcurrentInterleavedAsync(
        string name,
        int rounds,
        int workers,
        int perWorker,
        params (string Impl, Func<int, int, Task> Operation)[] implementations)
    {
        foreach (var (_, operation) in implementations)
        {
            await Task.WhenAll(Enumerable.Range(0, workers).Select(w => operation(w, -1)));
        }

        var latencies = implementations.Select(_ => new List<double>()).ToArray();
        var wall = new TimeSpan[implementations.Length];
        var counter = 0;
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < implementations.Length; k++)
            {
                var index = (k + round) % implementations.Length;
                var operation = implementations[index].Operation;
                var roundLatencies = new double[workers * perWorker];
                var first = counter;
                counter += workers * perWorker;
                var started = Stopwatch.GetTimestamp();
                await Task.WhenAll(Enumerable.Range(0, workers).Select(w => Task.Run(async () =>
                {
                    for (var i = 0; i < perWorker; i++)
                    {
                        var t = Stopwatch.GetTimestamp();
                        await operation(w, first + (w * perWorker) + i);
                        roundLatencies[(w * perWorker) + i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
                    }
                })));
                wall[index] += Stopwatch.GetElapsedTime(started);
                latencies[index].AddRange(roundLatencies);
            }
        }

        var results = new List<BenchmarkResult>();
        for (var k = 0; k < implementations.Length; k++)
        {
            var sorted = latencies[k].Order().ToArray();
            results.Add(Report(name, implementations[k].Impl, sorted, sorted.Length, wall[k]));
        }

        return results;
    }

    /// <summary>
    /// Measures several implementations of one scenario in alternating rounds (pliers, raw, marten, pliers, ...),
    /// so that drift in a noisy 2-core machine (the server shares the cores) hits every implementation alike.
    /// Each implementation is warmed up first; its figures pool the latencies and time of all its rounds.
    /// </summary>
    public async Task<IReadOnlyList<BenchmarkResult>> MeasureInterleavedAsync(
        string name,
        int rounds,
        int warmup,
        int iterationsPerRound,
        params (string Impl, Func<int, Task> Operation, int OpsPerCall)[] implementations)
    {
        foreach (var (_, operation, _) in implementations)
        {
            for (var i = 0; i < warmup; i++)
            {
                await operation(-1 - i);
            }
        }

        var latencies = implementations.Select(_ => new List<double>()).ToArray();
        var measured = new TimeSpan[implementations.Length];
        var counter = 0;
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < implementations.Length; k++)
            {
                var (_, operation, _) = implementations[(k + round) % implementations.Length];
                var index = (k + round) % implementations.Length;
                for (var i = 0; i < iterationsPerRound; i++)
                {
                    var started = Stopwatch.GetTimestamp();
                    await operation(counter++);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    measured[index] += elapsed;
                    latencies[index].Add(elapsed.TotalMilliseconds);
                }
            }
        }

        var results = new List<BenchmarkResult>();
        for (var k = 0; k < implementations.Length; k++)
        {
            var sorted = latencies[k].Order().ToArray();
            results.Add(Report(name, implementations[k].Impl, sorted, (double)sorted.Length * implementations[k].OpsPerCall, measured[k]));
        }

        return results;
    }

    /// <summary>One implementation's figures from its sorted per-call latencies, the items it handled and its time; logged.</summary>
    private BenchmarkResult Report(string name, string impl, double[] sorted, double items, TimeSpan time)
    {
        var result = new BenchmarkResult(
            name,
            impl,
            Math.Round(items / time.TotalSeconds, 1),
            Math.Round(Percentile(sorted, 0.50), 4),
            Math.Round(Percentile(sorted, 0.99), 4),
            sorted.Length);
        Log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-24} {impl,-8} {result.OpsPerSec,12:F1} ops/s  p50 {result.P50Ms,9:F3} ms  p99 {result.P99Ms,9:F3} ms"));
        return result;
    }

    private static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var rank = p * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = (int)Math.Ceiling(rank);
        return sorted[low] + ((sorted[high] - sorted[low]) * (rank - low));
    }
}

/// <summary>A benchmark scenario: measures the Pliers path and the raw-Npgsql baseline in the same run.</summary>
internal interface IScenario
{
    string Name { get; }

    Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken);
}

internal static class Report
{
    public static void PrintTable(IReadOnlyList<BenchmarkResult> results, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"| {"scenario",-24} | {"impl",-8} | {"ops/s",12} | {"p50 ms",10} | {"p99 ms",10} | {"vs raw ops/s",12} |");
        output.WriteLine($"|{new string('-', 26)}|{new string('-', 10)}|{new string('-', 14)}|{new string('-', 12)}|{new string('-', 12)}|{new string('-', 14)}|");
        foreach (var r in results)
        {
            var raw = results.FirstOrDefault(x => x.Name == r.Name && x.Impl == "raw");
            var ratio = raw is null || r.Impl == "raw" ? "" : (r.OpsPerSec / raw.OpsPerSec).ToString("F2", CultureInfo.InvariantCulture) + "x";
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {r.Name,-24} | {r.Impl,-8} | {r.OpsPerSec,12:F1} | {r.P50Ms,10:F3} | {r.P99Ms,10:F3} | {ratio,12} |"));
        }
    }

    public static async Task WriteJsonAsync(IReadOnlyList<BenchmarkResult> results, string path, CancellationToken cancellationToken)
    {
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, results, new JsonSerializerOptions { WriteIndented = true }, cancellationToken);
    }
}
