using System.Data;
using Dapper;
using Npgsql;
using NpgsqlTypes;

namespace Pliers.Data.Internal;

/// <summary>
/// The tenant a repository call works in. Every statement the library sends for a named tenant is preceded, in the
/// same round trip and the same (implicit or explicit) transaction, by <c>CALL use_tenant(@pliers_tenant)</c>, which
/// sets the transaction-local <c>pliers.tenant</c>: the library's own SQL filters on <c>current_tenant()</c>, new rows
/// take it as their default, and row-level security checks it. Transaction-local, so a pooled connection (Npgsql's
/// pool, a transaction-pooling PgBouncer) never carries it into another caller's work. The default tenant (the empty
/// string) sends nothing more: a single-tenant host's statements are exactly what they were.
/// </summary>
internal sealed class TenantScope
{
    /// <summary>The longest tenant id accepted (the tables' check constraints say the same).</summary>
    public const int MaxIdLength = 100;

    /// <summary>The setting's value that lets a session read every tenant's events (and nothing else more).</summary>
    public const string AllTenants = "*";

    /// <summary>The parameter that carries a named tenant's id in every statement it sends (<c>@pliers_tenant</c>).</summary>
    public const string ParameterName = "pliers_tenant";

    private readonly TenantPrefix _prefix;
    private readonly bool _required;

    private TenantScope(string id, TenantPrefix prefix, bool required)
    {
        Id = id;
        _prefix = prefix;
        _required = required;
    }

    /// <summary>Gets the tenant id; the empty string for the default tenant.</summary>
    public string Id { get; }

    /// <summary>The default tenant of a host; in a multi-tenant host it refuses every statement (a call must name its tenant).</summary>
    public static TenantScope Default(bool multiTenant) => new(string.Empty, TenantPrefix.None, multiTenant);

    /// <summary>The statement that names the tenant, put before each of a named tenant's statements (one per schema).</summary>
    public static TenantPrefix Prefix(string quotedSchema) => new($"call {quotedSchema}.use_tenant(@{ParameterName});\n", $"call {quotedSchema}.use_tenant($1)");

    /// <summary>A named tenant, its id checked; <paramref name="prefix"/> is the schema's <see cref="Prefix"/>.</summary>
    public static TenantScope For(TenantPrefix prefix, string? tenantId) => new(CheckId(tenantId), prefix, false);

    /// <summary>The reader of every tenant's events (subscriptions, the global head): it can read events only.</summary>
    public static TenantScope All(TenantPrefix prefix) => new(AllTenants, prefix, false);

    /// <summary>The statement as it is sent: the tenant's <c>CALL</c> first, when the tenant is named.</summary>
    public string Sql(string sql)
    {
        EnsureNamed();
        return _prefix.Named.Length == 0 ? sql : _prefix.Named + sql;
    }

    /// <summary>The statement's parameters with the tenant's added, when the tenant is named.</summary>
    public object? Parameters(object? parameters)
    {
        if (_prefix.Named.Length == 0)
        {
            return parameters;
        }

        var all = parameters as DynamicParameters ?? new DynamicParameters(parameters);
        all.Add(ParameterName, Id, DbType.String);
        return all;
    }

    /// <summary>A Dapper command for <paramref name="sql"/> in this tenant.</summary>
    public CommandDefinition Command(string sql, object? parameters, CancellationToken cancellationToken, IDbTransaction? transaction = null) =>
        new(Sql(sql), Parameters(parameters), transaction, cancellationToken: cancellationToken);

    /// <summary>
    /// A prepared hot path's batch on <paramref name="connection"/>: <paramref name="statement"/> with the values
    /// <paramref name="bind"/> gives it, after the tenant's <c>CALL</c> when the tenant is named (one implicit transaction).
    /// </summary>
    public NpgsqlBatch Batch(NpgsqlConnection connection, PositionalStatement statement, Action<PositionalStatement.Parameters> bind)
    {
        EnsureNamed();
        var batch = new NpgsqlBatch(connection);
        if (_prefix.Positional.Length > 0)
        {
            batch.BatchCommands.Add(new NpgsqlBatchCommand(_prefix.Positional) { Parameters = { new NpgsqlParameter<string> { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = Id } } });
        }

        batch.BatchCommands.Add(statement.Command(bind));
        return batch;
    }

    /// <summary>A key that is unique across tenants (caches): the name alone for the default tenant.</summary>
    public string Key(string name) => Id.Length == 0 ? name : Id + "\u001f" + name;

    /// <summary>Refuses a statement of a multi-tenant host that did not name its tenant.</summary>
    public void EnsureNamed()
    {
        if (_required)
        {
            throw new InvalidOperationException(
                "This host is multi-tenant (PliersDataOptions.MultiTenant): every call works inside one tenant. " +
                "Call ForTenant(tenantId) on the repository or event store and use what it returns.");
        }
    }

    /// <summary>
    /// A tenant id: 1 to 100 characters, no leading or trailing white space, no control characters, not <c>*</c>
    /// (which means "every tenant" to the events' read policy).
    /// </summary>
    public static string CheckId(string? tenantId)
    {
        if (string.IsNullOrEmpty(tenantId))
        {
            throw new ArgumentException("A tenant id must not be null or empty (the default tenant is the repository you were given).", nameof(tenantId));
        }

        if (tenantId.Length > MaxIdLength)
        {
            throw new ArgumentException($"A tenant id has at most {MaxIdLength} characters; this one has {tenantId.Length}.", nameof(tenantId));
        }

        if (tenantId == AllTenants)
        {
            throw new ArgumentException("'*' is not a tenant id: it means every tenant to the events' read policy.", nameof(tenantId));
        }

        if (char.IsWhiteSpace(tenantId[0]) || char.IsWhiteSpace(tenantId[^1]))
        {
            throw new ArgumentException("A tenant id must not start or end with white space.", nameof(tenantId));
        }

        for (var i = 0; i < tenantId.Length; i++)
        {
            var c = tenantId[i];
            if (char.IsControl(c))
            {
                throw new ArgumentException($"A tenant id must not contain control characters (U+{(int)c:X4}).", nameof(tenantId));
            }

            if (char.IsHighSurrogate(c) && i + 1 < tenantId.Length && char.IsLowSurrogate(tenantId[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(c))
            {
                throw new ArgumentException($"A tenant id must not contain an unpaired surrogate (U+{(int)c:X4} at {i}).", nameof(tenantId));
            }
        }

        return tenantId;
    }
}

/// <summary>A schema's tenant statement in both forms: before a named statement (with its <c>;</c>) and as a positional batch command.</summary>
internal sealed record TenantPrefix(string Named, string Positional)
{
    /// <summary>The default tenant's: nothing.</summary>
    public static readonly TenantPrefix None = new(string.Empty, string.Empty);
}
