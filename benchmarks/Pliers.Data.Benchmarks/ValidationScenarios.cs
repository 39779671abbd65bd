using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;

namespace Pliers.Data.Benchmarks;

/// <summary>Finds the repository's <c>testdata/</c> folder (the benchmark document and schema).</summary>
internal static class SharedData
{
    public static string Conformance
    {
        get
        {
            foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            {
                for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                {
                    if (File.Exists(Path.Combine(dir.FullName, "Pliers.Data.sln")))
                    {
                        return Path.Combine(dir.FullName, "testdata");
                    }
                }
            }

            throw new DirectoryNotFoundException("Pliers.Data.sln was not found; run the benchmarks from the checkout.");
        }
    }

    public static string BenchSchema => File.ReadAllText(Path.Combine(Conformance, "bench_schema.json"));

    public static string BenchInstance => File.ReadAllText(Path.Combine(Conformance, "bench_instance.json"));
}

/// <summary>
/// <c>validation.db</c>: the shared benchmark document checked by <c>jsonb_matches_schema</c> inside PostgreSQL,
/// over 2,000 distinct documents (one field varies per row, so nothing is constant-folded); the figure is the
/// time of one query divided by the documents. <c>raw</c> is the same query without validation: the floor of
/// reading the rows.
/// </summary>
internal sealed class ValidationDbScenario : IScenario
{
    private const int Documents = 2000;

    public string Name => "validation.db";

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var schemaName = "bench_val_" + Guid.NewGuid().ToString("N")[..10];
        await using var services = await context.MigratedPliersAsync(schemaName, cancellationToken);
        await using var dataSource = NpgsqlDataSource.Create(context.ConnectionString);
        try
        {
            await using (var seed = dataSource.CreateCommand($$"""
                create table {{schemaName}}.bench_docs as
                select i, jsonb_set(jsonb_set(@instance::jsonb, '{title}', to_jsonb('Request number ' || i)), '{score}', to_jsonb((i % 100)::numeric + 0.5)) as doc
                from generate_series(1, {{Documents}}) i
                """))
            {
                seed.Parameters.Add(new NpgsqlParameter("instance", NpgsqlDbType.Text) { Value = SharedData.BenchInstance });
                await seed.ExecuteNonQueryAsync(cancellationToken);
            }

            var schema = SharedData.BenchSchema;
            var runs = context.Quick ? 20 : 50;
            var pliers = await context.MeasureAsync(Name, "pliers", 1, runs, async _ =>
            {
                await using var command = dataSource.CreateCommand($"select count(*) filter (where {schemaName}.jsonb_matches_schema(@schema::jsonb, doc)) from {schemaName}.bench_docs");
                command.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = schema });
                var valid = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
                if (valid != Documents)
                {
                    throw new InvalidOperationException($"{valid} of {Documents} benchmark documents were valid; expected all.");
                }
            }, opsPerCall: Documents);
            var raw = await context.MeasureAsync(Name, "raw", 1, runs, async _ =>
            {
                await using var command = dataSource.CreateCommand($"select count(*) filter (where jsonb_typeof(doc) = 'object') from {schemaName}.bench_docs");
                await command.ExecuteScalarAsync(cancellationToken);
            }, opsPerCall: Documents);

            // Per document: the query time divided by the documents.
            return [PerDocument(pliers), PerDocument(raw)];
        }
        finally
        {
            await using var drop = dataSource.CreateCommand($"drop schema if exists {schemaName} cascade");
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    private static BenchmarkResult PerDocument(BenchmarkResult perQuery) => perQuery with
    {
        P50Ms = Math.Round(perQuery.P50Ms / Documents, 5),
        P99Ms = Math.Round(perQuery.P99Ms / Documents, 5),
    };
}
