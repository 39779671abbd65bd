using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Migrations;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Migrations;

/// <summary>No session setting of the migrator outlives its call, on a connection that is never reset (as behind a pooler).</summary>
public sealed class MigrationSessionSettingsTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_migration_lock_leaves_lock_timeout_as_it_found_it_after_success_and_after_a_timeout()
    {
        var schema = PostgresFixture.NewSchemaName();
        var connectionString = new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString) { MaxPoolSize = 1, NoResetOnClose = true }.ConnectionString;
        await using var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = connectionString;
                o.Schema = schema;
                o.MigrationLockTimeout = TimeSpan.FromMilliseconds(300);
            })
            .BuildServiceProvider();

        // The library's own data source: one physical connection, never reset when it goes back to the pool.
        var dataSource = services.GetRequiredService<Pliers.Data.Internal.PliersDatabase>().DataSource;

        async Task<string> LockTimeoutAsync()
        {
            await using var connection = await dataSource.OpenConnectionAsync(Ct);
            await using var show = new Npgsql.NpgsqlCommand("show lock_timeout", connection);
            return (string)(await show.ExecuteScalarAsync(Ct))!;
        }

        try
        {
            // A session value of the host's own (as a pooler's server connection may carry one): the migrator must
            // neither keep its own value nor reset the host's to the server default.
            await using (var connection = await dataSource.OpenConnectionAsync(Ct))
            await using (var set = new Npgsql.NpgsqlCommand("set lock_timeout = '1234ms'", connection))
            {
                await set.ExecuteNonQueryAsync(Ct);
            }

            var before = await LockTimeoutAsync();
            Assert.Equal("1234ms", before);
            await services.MigratePliersDatabaseAsync(Ct);
            Assert.Equal(before, await LockTimeoutAsync());

            // Another host holds the lock: the wait times out, and the pooled connection keeps its own setting.
            await using (var holder = await postgres.OpenAsync())
            {
                await using (var take = new Npgsql.NpgsqlCommand("select pg_advisory_lock(@key)", holder))
                {
                    take.Parameters.AddWithValue("key", PliersMigrator.LockKey(schema));
                    await take.ExecuteNonQueryAsync(Ct);
                }

                var error = await Assert.ThrowsAsync<PliersDataException>(() => services.MigratePliersDatabaseAsync(Ct));
                Assert.Contains("Timed out", error.Message, StringComparison.Ordinal);
                Assert.Equal(before, await LockTimeoutAsync());
            }
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }
}
