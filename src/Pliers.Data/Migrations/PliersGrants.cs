using System.Text.RegularExpressions;
using Npgsql;
using Pliers.Data.Internal;

namespace Pliers.Data.Migrations;

/// <summary>
/// The least privilege an application role needs: read and write definitions and submissions, read and append
/// events (never update, delete or truncate them), run the validation functions, read the version table; no DDL.
/// </summary>
internal static partial class PliersGrants
{
    [GeneratedRegex("^[a-z_][a-z0-9_$]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex RoleName();

    public static IReadOnlyList<string> Statements(string schema, string role)
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
            $"grant select, insert, update, delete on {s}.form_definitions to {r}",
            $"grant select, insert, update on {s}.form_submissions to {r}",
            $"grant select, insert on {s}.events to {r}",
            $"grant select, insert, update, delete on {s}.subscriptions to {r}",
            $"grant select, insert, update, delete on {s}.subscription_members to {r}",
            $"grant select, insert, update, delete on {s}.subscription_parked to {r}",
            $"grant select on {s}.version_info to {r}",
            $"grant select on {s}.{PliersMigrator.CatalogTable} to {r}",
            $"grant execute on all functions in schema {s} to {r}",
        ];
    }

    public static async Task GrantAsync(NpgsqlDataSource dataSource, string schema, string role, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                foreach (var sql in Statements(schema, role))
                {
                    await using var command = new NpgsqlCommand(sql, connection, transaction);
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
