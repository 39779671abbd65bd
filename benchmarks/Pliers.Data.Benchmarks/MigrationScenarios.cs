using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Internal;
using Pliers.Data.Migrations;

namespace Pliers.Data.Benchmarks;

/// <summary>
/// <c>migrations.up</c>: every migration from an empty schema. Pliers goes through the public entry point
/// (advisory lock, FluentMigrator runner, version table); raw runs the same statements over one Npgsql
/// connection, one transaction per migration, as the floor for what the DDL itself costs.
/// </summary>
internal sealed class MigrationsUpScenario : IScenario
{
    public string Name => "migrations.up";

    public async Task<IReadOnlyList<BenchmarkResult>> RunAsync(BenchmarkContext context, CancellationToken cancellationToken)
    {
        var iterations = context.Quick ? 5 : 20;
        var schemas = new List<string>();
        string NewSchema()
        {
            var schema = "bench_mig_" + Guid.NewGuid().ToString("N")[..12];
            schemas.Add(schema);
            return schema;
        }

        try
        {
            var pliers = await context.MeasureAsync(Name, "pliers", 1, iterations, async _ =>
            {
                await using var services = new ServiceCollection()
                    .AddPliersData(o =>
                    {
                        o.ConnectionString = context.ConnectionString;
                        o.Schema = NewSchema();
                    })
                    .BuildServiceProvider();
                await services.MigratePliersDatabaseAsync(cancellationToken);
            });

            await using var dataSource = NpgsqlDataSource.Create(context.ConnectionString);
            var raw = await context.MeasureAsync(Name, "raw", 1, iterations, async _ =>
            {
                var schema = NewSchema();
                await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
                await using (var create = new NpgsqlCommand($"create schema \"{schema}\"", connection))
                {
                    await create.ExecuteNonQueryAsync(cancellationToken);
                }

                foreach (var migration in PliersMigrations.All(schema))
                {
                    await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                    foreach (var sql in migration.UpStatements(SchemaName.Quote(schema)))
                    {
                        await using var command = new NpgsqlCommand(sql, connection, transaction);
                        await command.ExecuteNonQueryAsync(cancellationToken);
                    }

                    await transaction.CommitAsync(cancellationToken);
                }
            });

            return [pliers, raw];
        }
        finally
        {
            await using var connection = new NpgsqlConnection(context.ConnectionString);
            await connection.OpenAsync(cancellationToken);
            foreach (var schema in schemas)
            {
                await using var drop = new NpgsqlCommand($"drop schema if exists \"{schema}\" cascade", connection);
                await drop.ExecuteNonQueryAsync(cancellationToken);
            }
        }
    }
}
