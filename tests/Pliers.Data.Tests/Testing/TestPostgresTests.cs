using Npgsql;
using Pliers.Data.Testing;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Testing;

public sealed class TestPostgresTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string ClusterRoot => Path.Combine(Path.GetTempPath(), "pliers-test-postgres");

    [Fact]
    public async Task The_connection_string_variable_wins_and_is_left_running_on_dispose()
    {
        var variable = "PLIERS_TEST_CONNECTION_PROBE_" + Guid.NewGuid().ToString("N")[..8];
        Environment.SetEnvironmentVariable(variable, postgres.ConnectionString);
        try
        {
            await using (var server = await TestPostgres.StartAsync(new TestPostgresOptions { ConnectionStringVariable = variable }, Ct))
            {
                Assert.Equal(TestPostgresSource.Environment, server.Source);
                Assert.Equal(postgres.ConnectionString, server.ConnectionString);
            }

            Assert.Equal(1, await postgres.ScalarAsync<int>("select 1"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public async Task A_local_cluster_starts_answers_and_is_deleted_on_dispose_and_stale_clusters_are_swept()
    {
        // A cluster folder whose owner process is long gone, as a killed test run would leave it.
        Directory.CreateDirectory(ClusterRoot);
        var stale = Path.Combine(ClusterRoot, "stale-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(stale, "data"));
        await File.WriteAllTextAsync(Path.Combine(stale, "owner"), "2147483000 1", Ct);

        var options = new TestPostgresOptions { ConnectionStringVariable = "PLIERS_NO_SUCH_VARIABLE", UseTestcontainers = false };
        string folder;
        string connectionString;
        await using (var server = await TestPostgres.StartAsync(options, Ct))
        {
            Assert.Equal(TestPostgresSource.LocalBinaries, server.Source);
            Assert.False(Directory.Exists(stale), "the stale cluster folder should have been swept");
            connectionString = server.ConnectionString;
            var port = new NpgsqlConnectionStringBuilder(connectionString).Port;
            folder = Directory.GetDirectories(ClusterRoot, $"{Environment.ProcessId}-*")
                .Single(d => File.ReadAllText(Path.Combine(d, "data", "postmaster.pid")).Split('\n')[3].Trim() == port.ToString(System.Globalization.CultureInfo.InvariantCulture));

            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand("show fsync", connection);
            Assert.Equal("off", await command.ExecuteScalarAsync(Ct));

            var database = await server.CreateDatabaseAsync("probe_db", Ct);
            await using var other = new NpgsqlConnection(database);
            await other.OpenAsync(Ct);
            Assert.Equal("probe_db", other.Database);

            // TCP logins need the password, as on a production server.
            var wrong = new NpgsqlConnectionStringBuilder(connectionString) { Password = "not-the-password" };
            await using var refused = new NpgsqlConnection(wrong.ConnectionString);
            var error = await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync(Ct));
            Assert.Equal(PostgresErrorCodes.InvalidPassword, error.SqlState);
        }

        Assert.False(Directory.Exists(folder), "the cluster folder should be deleted on dispose");
        await using var gone = new NpgsqlConnection(connectionString + ";Timeout=2");
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => gone.OpenAsync(Ct));
    }
}
