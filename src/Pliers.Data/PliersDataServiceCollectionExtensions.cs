using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Pliers.Data;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Hosting;
using Pliers.Data.Submissions;
using Pliers.Data.Validation;
using Pliers.Data.Internal;
using Pliers.Data.Migrations;
using Pliers.Data.Seeding;
using Pliers.Data.Subscriptions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Pliers.Data with a service collection.</summary>
public static class PliersDataServiceCollectionExtensions
{
    /// <summary>
    /// Adds Pliers.Data: its options (validated at start-up), an <see cref="NpgsqlDataSource"/> unless the host
    /// registered one, and the migration runner scoped to the Pliers schema and version table.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the connection string, schema and other options.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddPliersData(this IServiceCollection services, Action<PliersDataOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<PliersDataOptions>().Configure(configure);
        return AddCore(services);
    }

    /// <summary>Adds Pliers.Data with options bound from a configuration section (for example <c>configuration.GetSection("Pliers")</c>).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The section holding <c>ConnectionString</c>, <c>Schema</c> and the other options.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddPliersData(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<PliersDataOptions>().Bind(configuration);
        return AddCore(services);
    }

    /// <summary>
    /// Applies the Pliers migrations when the host starts, before other hosted services that are registered later.
    /// Several instances starting together take turns on the advisory lock.
    /// </summary>
    /// <param name="services">The service collection, after <c>AddPliersData</c>.</param>
    /// <returns>The same service collection.</returns>
    public static IServiceCollection AddPliersMigrationsOnStartup(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Hosting.IHostedService, PliersMigrationHostedService>());
        return services;
    }

    /// <summary>
    /// Adds a health check that is Unhealthy when PostgreSQL is unreachable and Degraded when Pliers migrations are
    /// pending or the schema drifted.
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name. The default is <c>pliers-data</c>.</param>
    /// <param name="tags">Tags for filtering, for example <c>ready</c>.</param>
    /// <returns>The same builder.</returns>
    public static IHealthChecksBuilder AddPliersData(this IHealthChecksBuilder builder, string name = "pliers-data", IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<PliersHealthCheck>();
        return builder.Add(new HealthCheckRegistration(name, sp => sp.GetRequiredService<PliersHealthCheck>(), HealthStatus.Unhealthy, tags));
    }

    /// <summary>
    /// Runs a durable named subscription in this host (a hosted service): <typeparamref name="THandler"/> (registered
    /// as scoped unless the host registered it) gets every event after the stored checkpoint, in global order; the
    /// checkpoint is stored after the handler succeeded, or in the handler's transaction when
    /// <see cref="SubscriptionOptions.Transactional"/> is set. Every host that registers the same name is a member of
    /// one consumer group (see <see cref="SubscriptionOptions.Partitions"/>).
    /// </summary>
    /// <typeparam name="THandler">The handler.</typeparam>
    /// <param name="services">The service collection, after <c>AddPliersData</c>.</param>
    /// <param name="name">The subscription's name: non-blank, no leading or trailing whitespace, at most 200 characters.</param>
    /// <param name="configure">Sets the start, filter, partitions, lease, retries and poison policy, or <see langword="null"/>.</param>
    /// <returns>The same service collection.</returns>
    /// <exception cref="ArgumentException">The name or an option is out of range.</exception>
    public static IServiceCollection AddPliersSubscription<THandler>(this IServiceCollection services, string name, Action<SubscriptionOptions>? configure = null)
        where THandler : class, ISubscriptionHandler
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new SubscriptionOptions();
        configure?.Invoke(options);
        SubscriptionOptionsCheck.Check(name, options);
        services.TryAddScoped<THandler>();
        services.AddSingleton<Microsoft.Extensions.Hosting.IHostedService>(sp => new PliersSubscriptionService<THandler>(sp, name, options));
        return services;
    }

    private static IServiceCollection AddCore(IServiceCollection services)
    {
        services.AddOptions<PliersDataOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PliersDataOptions>, PliersDataOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<PliersDataOptions>>().Value;
            if (string.IsNullOrWhiteSpace(options.ConnectionString))
            {
                throw new InvalidOperationException(
                    "Pliers.Data has no database: set PliersDataOptions.ConnectionString or register an NpgsqlDataSource before resolving Pliers services.");
            }

            return PliersDataSources.Create(options.ConnectionString, options.TransactionPooling);
        });
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<PliersDataOptions>>().Value;
            var dataSource = options.DataSourceKey is { } key
                ? sp.GetRequiredKeyedService<NpgsqlDataSource>(key)
                : sp.GetRequiredService<NpgsqlDataSource>();
            return new PliersDatabase(
                dataSource,
                options.Schema,
                options.ConnectionString,
                sp.GetRequiredService<PliersReadDataSource>().DataSource,
                options.MaxDocumentDepth,
                options.MigrationConnectionString,
                options.TransactionPooling,
                sp.GetRequiredService<PliersListenDataSource>().DataSource,
                options.MultiTenant);
        });
        services.TryAddSingleton(sp =>
        {
            var listen = sp.GetRequiredService<IOptions<PliersDataOptions>>().Value.ListenConnectionString;
            return new PliersListenDataSource(string.IsNullOrWhiteSpace(listen) ? null : PliersDataSources.Create(listen));
        });
        services.TryAddSingleton(sp =>
        {
            var read = sp.GetRequiredService<IOptions<PliersDataOptions>>().Value.ReadConnectionString;
            return new PliersReadDataSource(string.IsNullOrWhiteSpace(read) ? null : PliersDataSources.Create(read));
        });
        services.TryAddSingleton(sp => new PostgresEventStore(sp.GetRequiredService<PliersDatabase>(), sp.GetService<ILoggerFactory>()?.CreateLogger("Pliers.Data.Events")));
        services.TryAddSingleton<IEventStore>(sp => sp.GetRequiredService<PostgresEventStore>());
        services.TryAddSingleton<SchemaValidator>();
        services.TryAddSingleton<ISubscriptionStore>(sp => new PostgresSubscriptionStore(sp.GetRequiredService<PliersDatabase>(), sp.GetRequiredService<IEventStore>()));
        services.TryAddSingleton(sp => new PliersSeeder(sp.GetRequiredService<PliersDatabase>()));
        services.TryAddSingleton(sp =>
        {
            var database = sp.GetRequiredService<PliersDatabase>();
            // No LISTEN (behind a transaction pooler without a listen connection): no invalidation, so no cache.
            return database.ListenDataSource is { } listen
                ? new ActiveDefinitionCache(listen, database.Schema, sp.GetRequiredService<IOptions<PliersDataOptions>>().Value.DefinitionCacheSize)
                : new ActiveDefinitionCache(database.DataSource, database.Schema, 0);
        });
        services.TryAddSingleton<IFormDefinitionRepository>(sp => new PostgresFormDefinitionRepository(
            sp.GetRequiredService<PliersDatabase>(),
            sp.GetRequiredService<PostgresEventStore>(),
            sp.GetRequiredService<ActiveDefinitionCache>()));
        services.TryAddSingleton<IFormSubmissionRepository>(sp => new PostgresFormSubmissionRepository(
            sp.GetRequiredService<PliersDatabase>(),
            sp.GetRequiredService<PostgresEventStore>(),
            sp.GetRequiredService<SchemaValidator>(),
            sp.GetRequiredService<IOptions<PliersDataOptions>>().Value,
            sp.GetRequiredService<ActiveDefinitionCache>()));
        services.TryAddSingleton(sp => new PliersMigrator(
            sp.GetRequiredService<PliersDatabase>(),
            sp.GetRequiredService<IOptions<PliersDataOptions>>().Value.MigrationLockTimeout,
            sp.GetService<ILoggerFactory>()));
        return services;
    }
}

/// <summary>Runs the Pliers migrations from a host's service provider.</summary>
public static class PliersDataServiceProviderExtensions
{
    /// <summary>
    /// Applies every pending Pliers migration. Several hosts may call this at the same time: a PostgreSQL
    /// advisory lock makes them take turns, so each migration is applied exactly once.
    /// </summary>
    /// <param name="services">The host's service provider, after <c>AddPliersData</c>.</param>
    /// <param name="cancellationToken">Cancels the wait for the lock; a migration that has started runs to its end.</param>
    /// <returns>The versions before and after, and what was applied.</returns>
    /// <exception cref="PliersDataException">The lock was not obtained within <see cref="PliersDataOptions.MigrationLockTimeout"/>.</exception>
    public static Task<PliersMigrationResult> MigratePliersDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.GetRequiredService<PliersMigrator>().MigrateAsync(cancellationToken);
    }

    /// <summary>Reverts Pliers migrations down to <paramref name="toVersion"/>; <c>0</c> removes every Pliers object, the version table and the schema when it is left empty.</summary>
    /// <param name="services">The host's service provider, after <c>AddPliersData</c>.</param>
    /// <param name="toVersion">The version to keep: 0 or the version of a known migration.</param>
    /// <param name="cancellationToken">Cancels the wait for the lock.</param>
    /// <returns>The versions before and after, and what was reverted.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="toVersion"/> is neither 0 nor a known migration.</exception>
    public static Task<PliersMigrationResult> RollbackPliersDatabaseAsync(this IServiceProvider services, long toVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        return services.GetRequiredService<PliersMigrator>().RollbackAsync(toVersion, cancellationToken);
    }

    /// <summary>Lists every Pliers migration with whether it is applied.</summary>
    /// <param name="services">The host's service provider, after <c>AddPliersData</c>.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>Applied and pending migrations.</returns>
    public static async Task<PliersMigrationStatus> GetPliersMigrationStatusAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        var migrator = services.GetRequiredService<PliersMigrator>();
        var status = await migrator.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        return status with { Schema = services.GetRequiredService<PliersDatabase>().Schema };
    }

    /// <summary>
    /// Compares the live schema with what the applied migrations declare and names every difference
    /// (a missing index, a changed column type, a dropped trigger, an object nobody declared...).
    /// </summary>
    /// <param name="services">The host's service provider, after <c>AddPliersData</c>.</param>
    /// <param name="cancellationToken">Cancels the check.</param>
    /// <returns>The differences; empty when the schema matches.</returns>
    public static async Task<PliersSchemaVerification> VerifyPliersDatabaseAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        return await services.GetRequiredService<PliersMigrator>().VerifyAsync(cancellationToken).ConfigureAwait(false);
    }
}
