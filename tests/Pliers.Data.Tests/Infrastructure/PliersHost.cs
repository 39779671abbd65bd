using Microsoft.Extensions.DependencyInjection;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>A service provider built the way a host builds it, on a schema of its own, dropped at dispose.</summary>
public sealed class PliersHost : IAsyncDisposable
{
    private readonly PostgresFixture _postgres;

    private PliersHost(PostgresFixture postgres, string schema, ServiceProvider services)
    {
        _postgres = postgres;
        Schema = schema;
        Services = services;
    }

    public string Schema { get; }

    public ServiceProvider Services { get; }

    public static PliersHost Create(PostgresFixture postgres, string? schema = null, string? connectionString = null, Action<PliersDataOptions>? configure = null)
    {
        schema ??= PostgresFixture.NewSchemaName();
        var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = connectionString ?? postgres.ConnectionString;
                o.Schema = schema;
                configure?.Invoke(o);
            })
            .BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
        return new PliersHost(postgres, schema, services);
    }

    public static async Task<PliersHost> MigratedAsync(PostgresFixture postgres, string? schema = null)
    {
        var host = Create(postgres, schema);
        await host.Services.MigratePliersDatabaseAsync(TestContext.Current.CancellationToken);
        return host;
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await _postgres.ExecuteAsync($"drop schema if exists \"{Schema}\" cascade");
    }
}
