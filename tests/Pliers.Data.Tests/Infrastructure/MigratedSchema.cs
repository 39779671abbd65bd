using Pliers.Data.Testing;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>
/// One migrated schema per test class (a class fixture), emptied before each test with the same reset a host's
/// tests use (<see cref="PliersReset"/>): every test starts from an empty store without paying for a migration.
/// </summary>
public sealed class MigratedSchema(PostgresFixture postgres) : IAsyncLifetime
{
    private PliersHost? _host;

    public PliersHost Host => _host ?? throw new InvalidOperationException("The schema was not migrated.");

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    /// <summary>Empties every Pliers table; called by each test's InitializeAsync.</summary>
    public async Task<PliersHost> ResetAsync()
    {
        await PliersReset.ResetAsync(postgres.ConnectionString, Host.Schema, TestContext.Current.CancellationToken);
        return Host;
    }

    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }
}
