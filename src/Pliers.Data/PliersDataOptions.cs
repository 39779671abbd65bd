namespace Pliers.Data;

/// <summary>
/// Settings for Pliers.Data: where the database is and which schema holds the Pliers objects.
/// </summary>
public sealed class PliersDataOptions
{
    /// <summary>The schema used when <see cref="Schema"/> is not set.</summary>
    public const string DefaultSchema = "pliers";

    /// <summary>
    /// Gets or sets the PostgreSQL connection string. Leave it empty when the host registers its own
    /// <see cref="Npgsql.NpgsqlDataSource"/>; that data source is then reused.
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Gets or sets the key of a keyed <see cref="Npgsql.NpgsqlDataSource"/> the host registered
    /// (<c>AddKeyedSingleton</c> or Npgsql's <c>AddNpgsqlDataSource(..., serviceKey: ...)</c>) for Pliers to use.
    /// When null, an unkeyed data source the host registered is reused, else one is built from <see cref="ConnectionString"/>.
    /// </summary>
    public object? DataSourceKey { get; set; }

    /// <summary>
    /// Gets or sets an optional connection string for reads, typically Npgsql multi-host with a standby preferred
    /// (<c>Host=primary:5432,standby:5432;Target Session Attributes=prefer-standby</c>). Queries use it; writes, and
    /// the reads a write depends on (read-your-writes), always use the primary. Subscriptions listen on the primary.
    /// </summary>
    public string? ReadConnectionString { get; set; }

    /// <summary>
    /// Gets or sets an optional connection string for migrations, typically of the role that owns the schema, while
    /// <see cref="ConnectionString"/> names a least-privilege application role (<c>pliers-data grant</c>). Migrations
    /// (<c>MigratePliersDatabaseAsync</c>, <c>AddPliersMigrationsOnStartup</c>, rollback) and their advisory lock
    /// use it; everything else, the health check included, uses the application connection. Point it at the server
    /// directly, not through a transaction-pooling PgBouncer: the migration lock is a session lock.
    /// When null, migrations use <see cref="ConnectionString"/>.
    /// </summary>
    public string? MigrationConnectionString { get; set; }

    /// <summary>
    /// Gets or sets whether <see cref="ConnectionString"/> reaches PostgreSQL through a transaction-pooling pooler
    /// (PgBouncer with <c>pool_mode = transaction</c>), where a server connection serves a client only for one
    /// transaction. Then the library prepares no statements (its data source gets <c>Max Auto Prepare=0</c> unless the
    /// string says otherwise), and never LISTENs on a pooled connection: subscriptions and the definition cache listen
    /// on <see cref="ListenConnectionString"/> when it is set; otherwise subscriptions poll every second and the
    /// definition cache is off. Settings are always transaction-scoped and the migration lock holds through a pooler,
    /// with or without this option (docs/operations.md, "PgBouncer").
    /// </summary>
    public bool TransactionPooling { get; set; }

    /// <summary>
    /// Gets or sets an optional connection string for LISTEN (subscriptions, the definition cache's invalidation), a
    /// direct or session-pooled connection, for hosts whose <see cref="ConnectionString"/> goes through a
    /// transaction-pooling pooler. When null, LISTEN uses <see cref="ConnectionString"/> unless
    /// <see cref="TransactionPooling"/> is set.
    /// </summary>
    public string? ListenConnectionString { get; set; }

    /// <summary>
    /// Gets or sets the schema that holds every Pliers object, including the migration version table.
    /// It must be a lower-case identifier (<c>[a-z_][a-z0-9_]*</c>, at most 63 characters, not starting with <c>pg_</c>).
    /// </summary>
    public string Schema { get; set; } = DefaultSchema;

    /// <summary>
    /// Gets or sets how long a host waits for another host's migration run to finish before giving up.
    /// The default is five minutes.
    /// </summary>
    public TimeSpan MigrationLockTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Gets or sets the largest submission document accepted, in UTF-8 bytes. The default is 1 MiB.</summary>
    public int MaxDocumentBytes { get; set; } = 1024 * 1024;

    /// <summary>Gets or sets the deepest nesting of a submission document accepted. The default is 64.</summary>
    public int MaxDocumentDepth { get; set; } = 64;

    /// <summary>
    /// Gets or sets how many form versions the process keeps for submission writes (by id, and the active version
    /// by name). A publish or archive in any host drops the name everywhere through <c>NOTIFY</c>; the write
    /// statement itself still checks that the version is active, so a stale entry costs a retry, never a wrong
    /// write. The listener holds one connection of the data source while the cache is in use. The default is
    /// 10,000; 0 turns the cache off (every submission write then reads the definition first).
    /// </summary>
    public int DefinitionCacheSize { get; set; } = 10_000;

    /// <summary>
    /// Gets or sets when the health check calls a durable subscription stuck (Degraded): when the oldest event after
    /// its checkpoint is older than this, or its handler has been failing for longer. A subscription stopped by a
    /// poison event makes the check Unhealthy. The default is 5 minutes.
    /// </summary>
    public TimeSpan SubscriptionStuckAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Gets or sets whether this host keeps several tenants apart. When set, every call must name its tenant
    /// (<c>ForTenant(tenantId)</c> on <see cref="Forms.IFormDefinitionRepository"/>, <see cref="Submissions.IFormSubmissionRepository"/>
    /// and <see cref="Events.IEventStore"/>; a call without one throws <see cref="InvalidOperationException"/>), and
    /// migrations switch PostgreSQL row-level security on for the tenant tables, so the application role sees and
    /// writes only the rows of the tenant its transaction names, whatever SQL it runs (docs/tenants.md). The default
    /// is false: calls without a tenant work in the default tenant and nothing changes for a single-tenant host.
    /// </summary>
    public bool MultiTenant { get; set; }
}
