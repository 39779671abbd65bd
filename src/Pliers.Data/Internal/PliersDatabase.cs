using Npgsql;

namespace Pliers.Data.Internal;

/// <summary>The resolved connection settings every Pliers component shares: the data source and the validated schema.</summary>
internal sealed class PliersDatabase
{
    private readonly TenantPrefix _tenantPrefix;

    public PliersDatabase(NpgsqlDataSource dataSource, string schema, string? connectionString, NpgsqlDataSource? readDataSource = null, int maxDocumentDepth = 64, string? migrationConnectionString = null, bool transactionPooling = false, NpgsqlDataSource? listenDataSource = null, bool multiTenant = false)
    {
        MultiTenant = multiTenant;
        ListenDataSource = listenDataSource ?? (transactionPooling ? null : dataSource);
        PrepareStatements = !transactionPooling && PliersDataSources.MayPrepare(dataSource.ConnectionString);
        OwnMigrationConnection = !string.IsNullOrWhiteSpace(migrationConnectionString);
        MaxDocumentDepth = maxDocumentDepth;
        DataSource = dataSource;
        ReadDataSource = readDataSource ?? dataSource;
        Schema = SchemaName.EnsureValid(schema);
        QuotedSchema = SchemaName.Quote(schema);
        CurrentTenant = QuotedSchema + ".current_tenant()";
        DefaultTenant = TenantScope.Default(multiTenant);
        _tenantPrefix = TenantScope.Prefix(QuotedSchema);
        AllTenants = TenantScope.All(_tenantPrefix);
        MigrationConnectionString = OwnMigrationConnection ? migrationConnectionString!
            : string.IsNullOrWhiteSpace(connectionString) ? dataSource.ConnectionString : connectionString;
    }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>Where queries go: a replica-preferring data source when one is configured, else <see cref="DataSource"/>.</summary>
    public NpgsqlDataSource ReadDataSource { get; }

    public string Schema { get; }

    /// <summary>The one nesting limit for every JSON document written and read (<see cref="PliersDataOptions.MaxDocumentDepth"/>).</summary>
    public int MaxDocumentDepth { get; }

    public string QuotedSchema { get; }

    /// <summary>Whether every call must name its tenant and migrations switch row-level security on (<see cref="PliersDataOptions.MultiTenant"/>).</summary>
    public bool MultiTenant { get; }

    /// <summary>The SQL expression of the session's tenant (the library's own tenant filter in every statement).</summary>
    public string CurrentTenant { get; }

    /// <summary>The tenant of calls that name none: the default tenant, or a refusal in a multi-tenant host.</summary>
    public TenantScope DefaultTenant { get; }

    /// <summary>The reader of every tenant's events (subscriptions, the global head and lag).</summary>
    public TenantScope AllTenants { get; }

    /// <summary>A named tenant of this schema.</summary>
    public TenantScope Tenant(string? tenantId) => TenantScope.For(_tenantPrefix, tenantId);

    /// <summary>FluentMigrator opens connections of its own and needs a connection string.</summary>
    public string MigrationConnectionString { get; }

    /// <summary>Where LISTEN goes: a direct connection when one is configured, the data source unless it is transaction-pooled, else nowhere (poll).</summary>
    public NpgsqlDataSource? ListenDataSource { get; }

    /// <summary>Whether the hot paths may prepare statements explicitly (not behind a transaction pooler, not with an explicit <c>Max Auto Prepare=0</c>, not multiplexing).</summary>
    public bool PrepareStatements { get; }

    /// <summary>Whether migrations have a connection of their own (<see cref="PliersDataOptions.MigrationConnectionString"/>), for the lock as well.</summary>
    public bool OwnMigrationConnection { get; }
}

/// <summary>The data source built from <see cref="PliersDataOptions.ListenConnectionString"/>, owned (and disposed) by the container.</summary>
internal sealed class PliersListenDataSource(NpgsqlDataSource? dataSource) : IAsyncDisposable
{
    public NpgsqlDataSource? DataSource { get; } = dataSource;

    public ValueTask DisposeAsync() => DataSource?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>The data source built from <see cref="PliersDataOptions.ReadConnectionString"/>, owned (and disposed) by the container.</summary>
internal sealed class PliersReadDataSource(NpgsqlDataSource? dataSource) : IAsyncDisposable
{
    public NpgsqlDataSource? DataSource { get; } = dataSource;

    public ValueTask DisposeAsync() => DataSource?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>The data sources the library builds itself (a host's own data source is used as the host configured it).</summary>
internal static class PliersDataSources
{
    /// <summary>Statements Npgsql keeps prepared per physical connection when the connection string says nothing.</summary>
    internal const int DefaultMaxAutoPrepare = 50;

    /// <summary>
    /// Builds a data source from <paramref name="connectionString"/>, with automatic preparation on (Dapper cannot ask
    /// for a prepared command; Npgsql prepares a statement after its fifth use) unless the string sets
    /// <c>Max Auto Prepare</c> itself (0 turns it off, e.g. behind a transaction-pooling PgBouncer older than 1.21).
    /// </summary>
    public static NpgsqlDataSource Create(string connectionString, bool transactionPooling = false)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        if (ExplicitMaxAutoPrepare(connectionString) is null)
        {
            builder.ConnectionStringBuilder.MaxAutoPrepare = transactionPooling ? 0 : DefaultMaxAutoPrepare;
        }

        return builder.Build();
    }

    /// <summary>
    /// Whether the append may prepare its statement explicitly on connections of this string: unless the string turns
    /// preparation off itself (<c>Max Auto Prepare=0</c>, the usual sign of a transaction pooler) or multiplexes
    /// (where explicit preparation is not supported). A host's own data source that says nothing leaves Npgsql's
    /// automatic preparation off (its default), but the append still prepares, as docs/architecture.md promises: it
    /// took <c>pool.load</c> from 0.62–0.65× to ~0.8× raw (docs/performance.md).
    /// </summary>
    public static bool MayPrepare(string connectionString) =>
        ExplicitMaxAutoPrepare(connectionString) is not 0 && !new NpgsqlConnectionStringBuilder(connectionString).Multiplexing;

    /// <summary>The <c>Max Auto Prepare</c> the string itself names, or null when it names none.</summary>
    private static int? ExplicitMaxAutoPrepare(string connectionString)
    {
        // The generic builder keeps only the keys the string names (Npgsql's own answers "known keyword" instead).
        var named = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        foreach (string key in named.Keys)
        {
            if (string.Equals(key.Replace(" ", string.Empty, StringComparison.Ordinal), "MaxAutoPrepare", StringComparison.OrdinalIgnoreCase))
            {
                return int.TryParse(Convert.ToString(named[key], System.Globalization.CultureInfo.InvariantCulture), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : null;
            }
        }

        return null;
    }
}
