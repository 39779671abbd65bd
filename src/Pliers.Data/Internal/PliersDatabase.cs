using Npgsql;

namespace Pliers.Data.Internal;

/// <summary>The resolved connection settings every Pliers component shares: the data source and the validated schema.</summary>
internal sealed class PliersDatabase
{
    public PliersDatabase(NpgsqlDataSource dataSource, string schema, string? connectionString)
    {
        DataSource = dataSource;
        Schema = SchemaName.EnsureValid(schema);
        QuotedSchema = SchemaName.Quote(schema);
        MigrationConnectionString = string.IsNullOrWhiteSpace(connectionString) ? dataSource.ConnectionString : connectionString;
    }

    public NpgsqlDataSource DataSource { get; }

    public string Schema { get; }

    public string QuotedSchema { get; }

    /// <summary>FluentMigrator opens connections of its own and needs a connection string.</summary>
    public string MigrationConnectionString { get; }
}
