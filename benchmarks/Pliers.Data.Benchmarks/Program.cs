using System.Diagnostics;
using Pliers.Data.Benchmarks;
using Pliers.Data.Testing;

const string usage = """
    usage: dotnet run -c Release --project benchmarks/Pliers.Data.Benchmarks -- [--quick] [--json FILE] [--connection CS] [--filter PREFIX]

      --quick          fewer iterations (finishes in under 5 minutes on 2 cores)
      --json FILE      also write the results as JSON: [{"name","impl","ops_per_sec","p50_ms","p99_ms","samples"}]
      --connection CS  PostgreSQL to measure against (default: $PLIERS_CONNECTION, else a throwaway local server
                       started with production durability settings)
      --filter PREFIX  run only scenarios whose name starts with PREFIX
      --no-fsync       start the throwaway server with fsync, synchronous_commit and full_page_writes off
                       (measures CPU and protocol cost without the disk's flush latency)
      --submissions N  seed N submissions for the forms scenarios (default 100000; the cost curve: 1000 ... 1000000)
      --seeder         seed the forms scenarios with the library's seeder in the cost curve's shape (what
                       `pliers-data seed --forms 1000 --versions 100 --submissions N` writes: 1,000 forms, ten of them
                       with ten archived versions each, a tenth of the submissions in the first form) instead of
                       10,000 one-version forms with half of the submissions in one
      --events N       seed N events (streams of ten, with the library's seeder) into the event store before the
                       events scenarios (default 0; the cost curve: 10000000)
    """;

bool quick = false, noFsync = false, seederShape = false;
int submissionRows = 100_000, eventRows = 0;
string? json = null, connection = null, filter = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--quick": quick = true; break;
        case "--no-fsync": noFsync = true; break;
        case "--seeder": seederShape = true; break;
        case "--json" when i + 1 < args.Length: json = args[++i]; break;
        case "--connection" when i + 1 < args.Length: connection = args[++i]; break;
        case "--filter" when i + 1 < args.Length: filter = args[++i]; break;
        case "--submissions" when i + 1 < args.Length && int.TryParse(args[i + 1], out var n) && n >= 1000: submissionRows = n; i++; break;
        case "--events" when i + 1 < args.Length && int.TryParse(args[i + 1], out var m) && m >= 0: eventRows = m; i++; break;
        case "-h" or "--help": Console.WriteLine(usage); return 0;
        default: Console.Error.WriteLine($"unknown or incomplete option '{args[i]}'\n{usage}"); return 2;
    }
}

#if DEBUG
Console.Error.WriteLine("warning: this is a Debug build; figures only count from -c Release");
#endif

using var cancellation = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancellation.Cancel();
};

connection ??= Environment.GetEnvironmentVariable("PLIERS_CONNECTION");
TestPostgres? server = null;
if (string.IsNullOrWhiteSpace(connection))
{
    server = await TestPostgres.StartAsync(
        new TestPostgresOptions { FastUnsafe = noFsync, Log = Console.Error, ConnectionStringVariable = "PLIERS_BENCH_CONNECTION" },
        cancellation.Token);
    connection = server.ConnectionString;
}

try
{
    await using var events = new EventScenarios();
    IScenario[] scenarios = [new MigrationsUpScenario(), events, new SubscribeScenario(), new ValidationDbScenario(), new FormScenarios(), new PoolScenario()];
    var context = new BenchmarkContext(connection, quick, Console.Out) { Submissions = submissionRows, Events = eventRows, SeederShape = seederShape };
    var results = new List<BenchmarkResult>();
    var total = Stopwatch.StartNew();
    Console.WriteLine($"Pliers.Data benchmarks ({(quick ? "quick" : "full")}), {Environment.ProcessorCount} cores, .NET {Environment.Version}, {submissionRows:N0} submissions{(seederShape ? " (seeder shape)" : "")}, {eventRows:N0} seeded events");
    foreach (var scenario in scenarios.Where(s => filter is null || s.Name.StartsWith(filter, StringComparison.Ordinal)))
    {
        Console.WriteLine(scenario.Name);
        results.AddRange(await scenario.RunAsync(context, cancellation.Token));
    }

    Report.PrintTable(results, Console.Out);
    Console.WriteLine($"\ntotal {total.Elapsed.TotalSeconds:F1} s");
    if (json is not null)
    {
        await Report.WriteJsonAsync(results, json, cancellation.Token);
        Console.WriteLine($"wrote {json}");
    }

    return 0;
}
finally
{
    if (server is not null)
    {
        await server.DisposeAsync();
    }
}
