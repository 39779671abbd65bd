using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Pliers.Data.Testing;

/// <summary>
/// Empties every Pliers table (events included) between a host's tests, keeping the schema and its migration
/// history. The events table refuses TRUNCATE to everyone at run time; this helper lifts that rule only inside its
/// own transaction, which needs the rights of the tables' owner (the role that ran the migrations). The
/// application role from <c>pliers-data grant</c> cannot run it, so production keeps its append-only guarantee.
/// </summary>
public static partial class PliersReset
{
    /// <summary>The migration history table, which a reset keeps.</summary>
    private const string VersionTable = "version_info";

    /// <summary>The catalog the migrations recorded (for drift checks), which a reset keeps.</summary>
    private const string CatalogTable = "catalog_record";

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaPattern();

    /// <summary>Empties every Pliers table in <paramref name="schema"/> through a connection of <paramref name="dataSource"/>.</summary>
    /// <param name="dataSource">A data source that connects as the owner of the Pliers tables (the migration role).</param>
    /// <param name="schema">The Pliers schema; the default is <c>pliers</c>.</param>
    /// <param name="cancellationToken">Cancels the reset; nothing is emptied unless it completes.</param>
    /// <returns>The number of tables emptied.</returns>
    /// <exception cref="ArgumentException"><paramref name="schema"/> is not a valid Pliers schema name.</exception>
    /// <exception cref="PostgresException">The connection's role does not own the tables (SQLSTATE 42501), or the schema does not exist.</exception>
    public static async Task<int> ResetAsync(NpgsqlDataSource dataSource, string schema = PliersDataOptions.DefaultSchema, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ResetAsync(connection, schema, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Empties every Pliers table in <paramref name="schema"/> through a new connection to <paramref name="connectionString"/>.</summary>
    /// <param name="connectionString">A connection string of the owner of the Pliers tables (the migration role).</param>
    /// <param name="schema">The Pliers schema; the default is <c>pliers</c>.</param>
    /// <param name="cancellationToken">Cancels the reset; nothing is emptied unless it completes.</param>
    /// <returns>The number of tables emptied.</returns>
    /// <exception cref="ArgumentException"><paramref name="schema"/> is not a valid Pliers schema name.</exception>
    /// <exception cref="PostgresException">The connection's role does not own the tables (SQLSTATE 42501), or the schema does not exist.</exception>
    public static async Task<int> ResetAsync(string connectionString, string schema = PliersDataOptions.DefaultSchema, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var connection = new NpgsqlConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return await ResetAsync(connection, schema, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Empties every Pliers table of the host's registration: the schema from <see cref="PliersDataOptions"/> and the
    /// data source Pliers uses (the configured connection string, or the host's own <see cref="NpgsqlDataSource"/>).
    /// </summary>
    /// <param name="services">The host's service provider, built with <c>AddPliersData</c>.</param>
    /// <param name="cancellationToken">Cancels the reset; nothing is emptied unless it completes.</param>
    /// <returns>The number of tables emptied.</returns>
    /// <exception cref="PostgresException">The configured role does not own the tables (SQLSTATE 42501): reset through the migration role's connection string instead.</exception>
    public static Task<int> ResetPliersDataAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.GetRequiredService<IOptions<PliersDataOptions>>().Value;
        if (!string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            return ResetAsync(options.ConnectionString, options.Schema, cancellationToken);
        }

        var dataSource = options.DataSourceKey is { } key
            ? services.GetRequiredKeyedService<NpgsqlDataSource>(key)
            : services.GetRequiredService<NpgsqlDataSource>();
        return ResetAsync(dataSource, options.Schema, cancellationToken);
    }

    private static async Task<int> ResetAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(schema) || !SchemaPattern().IsMatch(schema))
        {
            throw new ArgumentException($"'{schema}' is not a valid Pliers schema name.", nameof(schema));
        }

        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            // The tables come from the catalog, so tables added by later migrations are emptied too. Every name is
            // quoted as an identifier; only the validated schema name comes from the caller.
            var tables = new List<string>();
            var truncateTriggers = new List<(string Table, string Trigger)>();
            await using (var command = new NpgsqlCommand(
                """
                select c.relname, t.tgname
                from pg_class c
                join pg_namespace n on n.oid = c.relnamespace
                left join pg_trigger t on t.tgrelid = c.oid and not t.tgisinternal and (t.tgtype & 32) <> 0 and t.tgenabled <> 'D'
                where n.nspname = @schema and c.relkind in ('r', 'p') and c.relname not in (@version_table, @catalog_table) and not c.relispartition
                order by c.relname
                """,
                connection,
                transaction))
            {
                command.Parameters.AddWithValue("schema", schema);
                command.Parameters.AddWithValue("version_table", VersionTable);
                command.Parameters.AddWithValue("catalog_table", CatalogTable);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var table = reader.GetString(0);
                    if (!tables.Contains(table))
                    {
                        tables.Add(table);
                    }

                    if (!reader.IsDBNull(1))
                    {
                        truncateTriggers.Add((table, reader.GetString(1)));
                    }
                }
            }

            if (tables.Count == 0)
            {
                return 0;
            }

            var sql = new StringBuilder();
            foreach (var (table, trigger) in truncateTriggers)
            {
                sql.Append("alter table ").Append(Qualified(schema, table)).Append(" disable trigger ").Append(Quote(trigger)).AppendLine(";");
            }

            sql.Append("truncate table ").AppendJoin(", ", tables.Select(t => Qualified(schema, t))).AppendLine(" restart identity;");
            foreach (var (table, trigger) in truncateTriggers)
            {
                sql.Append("alter table ").Append(Qualified(schema, table)).Append(" enable trigger ").Append(Quote(trigger)).AppendLine(";");
            }

            await using (var command = new NpgsqlCommand(sql.ToString(), connection, transaction))
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return tables.Count;
        }
    }

    private static string Qualified(string schema, string table) => Quote(schema) + "." + Quote(table);

    private static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
