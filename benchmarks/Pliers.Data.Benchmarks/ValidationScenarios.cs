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
            var results = new List<BenchmarkResult> { PerDocument(pliers), PerDocument(raw) };
            results.AddRange(await ShapesAsync(context, dataSource, schemaName, schema, runs, cancellationToken));
            return results;
        }
        finally
        {
            await using var drop = dataSource.CreateCommand($"drop schema if exists {schemaName} cascade");
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
    }

    /// <summary>
    /// The same check in the shapes callers write (issue 12): the schema as a parameter of a prepared statement
    /// (<c>validation.db.param</c>), the schema from a table per row and the definition-based function that uses the
    /// stored compiled columns (<c>validation.db.rowschema</c>), and the submission trigger's cost per inserted row
    /// (<c>validation.trigger</c>: the same insert with the trigger and, as <c>raw</c>, without it).
    /// </summary>
    private static async Task<IReadOnlyList<BenchmarkResult>> ShapesAsync(BenchmarkContext context, NpgsqlDataSource dataSource, string s, string schema, int runs, CancellationToken cancellationToken)
    {
        var results = new List<BenchmarkResult>();
        Guid definition;
        await using (var define = dataSource.CreateCommand($$"""
            insert into {{s}}.form_definitions (name, version, definition, status) values ('bench', 1, jsonb_build_object('schema', @schema::jsonb), 'active') returning id
            """))
        {
            define.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = schema });
            definition = (Guid)(await define.ExecuteScalarAsync(cancellationToken))!;
        }

        async Task CountAsync(NpgsqlCommand command)
        {
            var valid = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            if (valid != Documents)
            {
                throw new InvalidOperationException($"{valid} of {Documents} benchmark documents were valid; expected all.");
            }
        }

        // A prepared statement: after five executions PostgreSQL may switch to a generic plan, where the schema is
        // a parameter rather than a constant.
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var prepared = new NpgsqlCommand($"select count(*) filter (where {s}.jsonb_matches_schema(@schema::jsonb, doc)) from {s}.bench_docs", connection))
        {
            prepared.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text) { Value = schema });
            await prepared.PrepareAsync(cancellationToken);
            results.Add(PerDocument(await context.MeasureAsync("validation.db.param", "pliers", 8, runs, _ => CountAsync(prepared), opsPerCall: Documents)));
        }

        results.Add(PerDocument(await context.MeasureAsync("validation.db.rowschema", "pliers.schema", 1, Math.Max(3, runs / 4), async _ =>
        {
            await using var command = dataSource.CreateCommand($"select count(*) filter (where {s}.jsonb_matches_schema(f.definition -> 'schema', d.doc)) from {s}.bench_docs d join {s}.form_definitions f on f.name = 'bench'");
            await CountAsync(command);
        }, opsPerCall: Documents)));
        results.Add(PerDocument(await context.MeasureAsync("validation.db.rowschema", "pliers.definition", 1, runs, async _ =>
        {
            await using var command = dataSource.CreateCommand($"select count(*) filter (where {s}.jsonb_matches_definition(f, d.doc)) from {s}.bench_docs d join {s}.form_definitions f on f.name = 'bench'");
            await CountAsync(command);
        }, opsPerCall: Documents)));

        // The trigger: the same insert of every document, with and without it (truncated between runs).
        async Task ResetAsync(bool withTrigger)
        {
            await using var batch = dataSource.CreateBatch();
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"truncate {s}.form_submissions"));
            foreach (var trigger in new[] { "form_submissions_validate", "form_submissions_validate_insert" })
            {
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"alter table {s}.form_submissions {(withTrigger ? "enable" : "disable")} trigger {trigger}"));
            }
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var withTrigger in new[] { true, false })
        {
            results.Add(PerDocument(await context.MeasureAsync("validation.trigger", withTrigger ? "pliers" : "raw", 1, Math.Max(3, runs / 4), async _ =>
            {
                await using var insert = dataSource.CreateCommand($"insert into {s}.form_submissions (form_definition_id, form_version, data) select @definition, 1, doc from {s}.bench_docs");
                insert.Parameters.Add(new NpgsqlParameter<Guid>("definition", definition));
                await insert.ExecuteNonQueryAsync(cancellationToken);
            }, setup: _ => ResetAsync(withTrigger), opsPerCall: Documents)));
        }

        await ResetAsync(true);
        return results;
    }

    private static BenchmarkResult PerDocument(BenchmarkResult perQuery) => perQuery with
    {
        P50Ms = Math.Round(perQuery.P50Ms / Documents, 5),
        P99Ms = Math.Round(perQuery.P99Ms / Documents, 5),
    };
}
