using System.Text.RegularExpressions;
using Dapper;
using Npgsql;
using Pliers.Data.Internal;

namespace Pliers.Data.Migrations;

/// <summary>
/// The least privilege an application role needs: read and write definitions and submissions, read and append
/// events (never update, delete or truncate them), keep subscription checkpoints, run the validation functions, read
/// the version table; no DDL. Migrations give roles that hold USAGE on the schema the same on the tables they create.
/// </summary>
internal static partial class PliersGrants
{
    [GeneratedRegex("^[a-z_][a-z0-9_$]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex RoleName();

    /// <summary>The tables the application role uses and what it may do with each.</summary>
    private static readonly (string Table, string Privileges)[] Tables =
    [
        ("form_definitions", "select, insert, update, delete"),
        ("form_submissions", "select, insert, update, delete"), // delete: PurgeAsync
        ("form_submission_revisions", "select, insert, delete"),
        ("events", "select, insert"),
        ("subscriptions", "select, insert, update, delete"),
        ("subscription_members", "select, insert, update, delete"),
        ("subscription_parked", "select, insert, update, delete"),
        ("version_info", "select"),
        (PliersMigrator.CatalogTable, "select"),
    ];

    /// <summary>The grant statements for <paramref name="role"/>, for the tables in <paramref name="existing"/> (all when null).</summary>
    public static IReadOnlyList<string> Statements(string schema, string role, IReadOnlySet<string>? existing = null)
    {
        if (!RoleName().IsMatch(role))
        {
            throw new ArgumentException($"Role '{role}' is not a plain lower-case identifier.", nameof(role));
        }

        var s = SchemaName.Quote(schema);
        var r = "\"" + role + "\"";
        return
        [
            $"grant usage on schema {s} to {r}",
            .. Tables.Where(t => existing is null || existing.Contains(t.Table)).Select(t => $"grant {t.Privileges} on {s}.{t.Table} to {r}"),
            $"grant execute on all functions in schema {s} to {r}",
        ];
    }

    public static async Task GrantAsync(NpgsqlDataSource dataSource, string schema, string role, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await GrantAsync(connection, schema, [role], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Gives the roles that hold USAGE on the schema (the application roles <c>pliers-data grant</c> set up) what they
    /// need on the tables and functions that exist now: run after every migration and rollback, so tables a later
    /// migration creates (or re-creates) are usable by them without running <c>grant</c> again.
    /// </summary>
    public static async Task RegrantAsync(NpgsqlConnection connection, string schema, CancellationToken cancellationToken)
    {
        var roles = (await connection.QueryAsync<string>(new CommandDefinition(
            """
            select r.rolname from pg_namespace n cross join lateral aclexplode(n.nspacl) a join pg_roles r on r.oid = a.grantee
            where n.nspname = @schema and a.privilege_type = 'USAGE' and a.grantee <> n.nspowner
            order by r.rolname
            """,
            new { schema },
            cancellationToken: cancellationToken)).ConfigureAwait(false)).Where(r => RoleName().IsMatch(r)).ToArray();
        if (roles.Length > 0)
        {
            try
            {
                await GrantAsync(connection, schema, roles, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                // A migration role that may create but not grant (it does not own the schema's objects): the
                // migration stands; such deployments run `pliers-data grant` as the owner (docs/operations.md).
            }
        }
    }

    private static async Task GrantAsync(NpgsqlConnection connection, string schema, IReadOnlyList<string> roles, CancellationToken cancellationToken)
    {
        var existing = (await connection.QueryAsync<string>(new CommandDefinition(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = @schema and c.relkind in ('r', 'p')",
            new { schema },
            cancellationToken: cancellationToken)).ConfigureAwait(false)).ToHashSet();
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            foreach (var role in roles)
            {
                foreach (var sql in Statements(schema, role, existing))
                {
                    await using var command = new NpgsqlCommand(sql, connection, transaction);
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
