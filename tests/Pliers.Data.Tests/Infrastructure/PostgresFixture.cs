using Npgsql;
using Pliers.Data.Testing;

[assembly: AssemblyFixture(typeof(Pliers.Data.Tests.Infrastructure.PostgresFixture))]

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>
/// One PostgreSQL server for the whole test run. When none can be found or started every test fails with
/// the reason; no test is ever skipped for lack of a database.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private TestPostgres? _server;

    public string ConnectionString => _server?.ConnectionString ?? throw new InvalidOperationException("PostgreSQL was not started.");

    public TestPostgres Server => _server ?? throw new InvalidOperationException("PostgreSQL was not started.");

    public async ValueTask InitializeAsync()
    {
        _server = await TestPostgres.StartAsync(new TestPostgresOptions { Log = Console.Error });
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    /// <summary>A schema name of its own for one test: tests never share Pliers objects.</summary>
    public static string NewSchemaName(string prefix = "t") => $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 17, 63)];

    public async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        return connection;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>Runs a query and maps its rows with Dapper (value tuples map by position).</summary>
    public async Task<List<T>> QueryAsync<T>(string sql)
    {
        await using var connection = await OpenAsync();
        return (await Dapper.SqlMapper.QueryAsync<T>(connection, new Dapper.CommandDefinition(sql, cancellationToken: TestContext.Current.CancellationToken))).ToList();
    }

    public async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var connection = await OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(TestContext.Current.CancellationToken);
        return value is DBNull or null ? default : (T)value;
    }
}
