using Npgsql;

namespace Pliers.Data.Internal;

/// <summary>The resolved connection settings every Pliers component shares: the data source and the validated schema.</summary>
internal sealed class PliersDatabase
{
    public PliersDatabase(NpgsqlDataSource dataSource, string schema, string? connectionString, NpgsqlDataSource? readDataSource = null, int maxDocumentDepth = 64)
    {
        MaxDocumentDepth = maxDocumentDepth;
        DataSource = dataSource;
        ReadDataSource = readDataSource ?? dataSource;
        Schema = SchemaName.EnsureValid(schema);
        QuotedSchema = SchemaName.Quote(schema);
        MigrationConnectionString = string.IsNullOrWhiteSpace(connectionString) ? dataSource.ConnectionString : connectionString;
    }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>Where queries go: a replica-preferring data source when one is configured, else <see cref="DataSource"/>.</summary>
    public NpgsqlDataSource ReadDataSource { get; }

    public string Schema { get; }

    /// <summary>The one nesting limit for every JSON document written and read (<see cref="PliersDataOptions.MaxDocumentDepth"/>).</summary>
    public int MaxDocumentDepth { get; }

    public string QuotedSchema { get; }

    /// <summary>FluentMigrator opens connections of its own and needs a connection string.</summary>
    public string MigrationConnectionString { get; }
}

/// <summary>The data source built from <see cref="PliersDataOptions.ReadConnectionString"/>, owned (and disposed) by the container.</summary>
internal sealed class PliersReadDataSource(NpgsqlDataSource? dataSource) : IAsyncDisposable
{
    public NpgsqlDataSource? DataSource { get; } = dataSource;

    public ValueTask DisposeAsync() => DataSource?.DisposeAsync() ?? ValueTask.CompletedTask;
}
