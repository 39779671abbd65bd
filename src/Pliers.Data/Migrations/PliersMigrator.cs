using System.Diagnostics;
using System.Text;
using Dapper;
using FluentMigrator.Runner;
using FluentMigrator.Runner.Initialization;
using FluentMigrator.Runner.VersionTableInfo;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Pliers.Data.Internal;

namespace Pliers.Data.Migrations;

/// <summary>
/// Runs the Pliers migrations for one schema. FluentMigrator has no lock of its own, so every run first
/// takes a transaction-level advisory lock held by an open transaction on a separate connection, then builds a
/// private runner (never the host's FluentMigrator setup), and ends that transaction in <c>finally</c>.
/// </summary>
internal sealed class PliersMigrator
{
    private readonly PliersDatabase _database;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly TimeSpan _lockTimeout;

    public PliersMigrator(PliersDatabase database, TimeSpan lockTimeout, ILoggerFactory? loggerFactory)
    {
        _database = database;
        _lockTimeout = lockTimeout;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger("Pliers.Data.Migrations");
    }

    private string Schema => _database.Schema;

    /// <summary>The advisory lock key: a stable 64-bit FNV-1a hash of the schema name.</summary>
    internal static long LockKey(string schema)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in Encoding.UTF8.GetBytes("pliers.data/migrations/" + schema))
        {
            hash ^= b;
            hash *= 1099511628211UL;
        }

        return unchecked((long)hash);
    }

    public async Task<PliersMigrationResult> MigrateAsync(CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        return await WithLockAsync(
            async connection =>
            {
                var before = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
                if (PliersMigrations.Versions.All(before.ContainsKey))
                {
                    // Nothing to do, and nothing that needs more than the application role's rights: a host that
                    // migrates on start-up with a least-privilege role starts when the owner has migrated already.
                    await RecordCatalogIfMissingAsync(connection, before, cancellationToken).ConfigureAwait(false);
                    await EnsureRowLevelSecurityAsync(connection, cancellationToken).ConfigureAwait(false);
                    return new PliersMigrationResult(Schema, MaxVersion(before), MaxVersion(before), [], stopwatch.Elapsed);
                }

                try
                {
                    await using (var create = new NpgsqlCommand($"create schema if not exists {SchemaName.Quote(Schema)}", connection))
                    {
                        await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    await RunAsync(runner => runner.MigrateUp(), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (Privilege(e) is { } denied)
                {
                    throw NotAllowed(connection, PliersMigrations.Versions.Count(v => !before.ContainsKey(v)), denied);
                }

                var after = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
                await RecordCatalogAsync(connection, after, cancellationToken).ConfigureAwait(false);
                await PliersGrants.RegrantAsync(connection, Schema, cancellationToken).ConfigureAwait(false);
                await EnsureRowLevelSecurityAsync(connection, cancellationToken).ConfigureAwait(false);
                var applied = after.Keys.Except(before.Keys).Order().ToArray();
                if (applied.Length > 0)
                {
                    PliersLog.Migrated(_logger, Schema, MaxVersion(before), MaxVersion(after), string.Join(", ", applied), stopwatch.ElapsedMilliseconds);
                }

                return new PliersMigrationResult(Schema, MaxVersion(before), MaxVersion(after), applied, stopwatch.Elapsed);
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A multi-tenant host (<see cref="PliersDatabase.MultiTenant"/>) switches row-level security on for the tenant
    /// tables (the policies come with migration 202612051400). Only what is off is switched on; doing so needs the
    /// tables' owner, so a least-privilege host finds it done by the owner's run or is told whose job it is.
    /// </summary>
    private async Task EnsureRowLevelSecurityAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (!_database.MultiTenant)
        {
            return;
        }

        var off = (await connection.QueryAsync<string>(new CommandDefinition(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = @schema and c.relname = any(@tables) and not c.relrowsecurity order by c.relname",
            new { schema = Schema, tables = M202612051400Tenants.Tables },
            cancellationToken: cancellationToken)).ConfigureAwait(false)).AsList();
        foreach (var table in off)
        {
            try
            {
                await using var enable = new NpgsqlCommand($"alter table {SchemaName.Quote(Schema)}.{table} enable row level security", connection);
                await enable.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
            {
                throw new PliersDataException(
                    $"This host is multi-tenant (PliersDataOptions.MultiTenant) but row-level security is off for {Schema}.{table}, and role '{connection.UserName}' cannot switch it on (only the table's owner can). " +
                    "Run the migrations once as the owner with MultiTenant set (or `pliers-data migrate --multi-tenant`), or set PliersDataOptions.MigrationConnectionString to the owner.",
                    e);
            }

            PliersLog.RowLevelSecurityEnabled(_logger, Schema, table);
        }
    }

    public async Task<PliersMigrationResult> RollbackAsync(long toVersion, CancellationToken cancellationToken)
    {
        if (toVersion != 0 && !PliersMigrations.Versions.Contains(toVersion))
        {
            throw new ArgumentOutOfRangeException(
                nameof(toVersion),
                toVersion,
                $"Unknown Pliers migration version {toVersion}; use 0 or one of {string.Join(", ", PliersMigrations.Versions)}.");
        }

        var stopwatch = Stopwatch.StartNew();
        return await WithLockAsync(
            async connection =>
            {
                var before = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
                if (before.Count > 0)
                {
                    await RunAsync(runner => runner.MigrateDown(toVersion), cancellationToken).ConfigureAwait(false);
                }

                var after = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
                if (toVersion == 0)
                {
                    await DropVersionTableAndEmptySchemaAsync(connection, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await RecordCatalogAsync(connection, after, cancellationToken).ConfigureAwait(false);
                    await PliersGrants.RegrantAsync(connection, Schema, cancellationToken).ConfigureAwait(false);
                }

                var reverted = before.Keys.Except(after.Keys).OrderDescending().ToArray();
                if (reverted.Length > 0)
                {
                    PliersLog.RolledBack(_logger, Schema, MaxVersion(before), MaxVersion(after), string.Join(", ", reverted));
                }

                return new PliersMigrationResult(Schema, MaxVersion(before), MaxVersion(after), reverted, stopwatch.Elapsed);
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<PliersMigrationStatus> GetStatusAsync(CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var applied = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
            return BuildStatus(applied);
        }
    }

    public async Task<PliersSchemaVerification> VerifyAsync(CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var applied = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
            var status = BuildStatus(applied);
            IReadOnlyList<CatalogObject> expected;
            if (await RecordedCatalogAsync(connection, applied, cancellationToken).ConfigureAwait(false) is { } recorded)
            {
                expected = recorded;
            }
            else
            {
                try
                {
                    expected = await DeclaredCatalogAsync(connection, applied.Keys.ToHashSet(), cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    return new PliersSchemaVerification(Schema, status.CurrentVersion, [new PliersSchemaDifference(
                        "catalog", CatalogTable, "unverifiable", null,
                        $"no catalog was recorded for the applied migrations, and role '{connection.UserName}' may not build one (create a schema): run the migrations with this release as the schema's owner")]);
                }
            }

            IReadOnlyList<CatalogObject> actual;
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                actual = await SchemaSnapshot.ReadAsync(connection, Schema, cancellationToken).ConfigureAwait(false);
            }

            var differences = SchemaSnapshot.Compare(expected, actual).ToList();
            foreach (var unknown in status.UnknownAppliedVersions)
            {
                differences.Add(new PliersSchemaDifference("migration", unknown.ToString(System.Globalization.CultureInfo.InvariantCulture), "unexpected", null, "applied by a newer Pliers.Data release"));
            }

            return new PliersSchemaVerification(Schema, status.CurrentVersion, differences);
        }
    }

    /// <summary>
    /// Builds the catalog the applied migrations declare by running their Up statements into a scratch
    /// schema inside a transaction that is always rolled back: nothing is left behind.
    /// </summary>
    internal static async Task<IReadOnlyList<CatalogObject>> DeclaredCatalogAsync(NpgsqlConnection connection, IReadOnlySet<long> versions, CancellationToken cancellationToken)
    {
        // The same migrations declare the same catalog on the same server version (names are normalised to a
        // placeholder schema), so one replay per process serves every schema and every later check.
        var key = $"{connection.PostgreSqlVersion}/{string.Join(',', versions.Order())}";
        if (DeclaredCatalogs.TryGetValue(key, out var known))
        {
            return known;
        }

        var declared = await ReplayAsync(connection, versions, cancellationToken).ConfigureAwait(false);
        DeclaredCatalogs[key] = declared;
        return declared;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, IReadOnlyList<CatalogObject>> DeclaredCatalogs = new(StringComparer.Ordinal);

    private static async Task<IReadOnlyList<CatalogObject>> ReplayAsync(NpgsqlConnection connection, IReadOnlySet<long> versions, CancellationToken cancellationToken)
    {
        var scratch = "pliers_verify_" + Guid.NewGuid().ToString("N")[..12];
        var quoted = SchemaName.Quote(scratch);
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var statements = new List<string> { $"create schema {quoted}" };
            statements.AddRange(PliersMigrations.All(scratch).Where(m => versions.Contains(m.Version)).SelectMany(m => m.UpStatements(quoted)));
            foreach (var sql in statements)
            {
                await using var command = new NpgsqlCommand(sql, connection, transaction);
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var catalog = await SchemaSnapshot.ReadAsync(connection, scratch, cancellationToken).ConfigureAwait(false);
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
            return catalog;
        }
    }

    /// <summary>The table where each migration run records the catalog its migrations declare (owner-written, readable by the application role).</summary>
    internal const string CatalogTable = "catalog_record";

    /// <summary>
    /// Records the catalog the applied migrations declare, so that a role without the right to create a scratch
    /// schema (the application role) can check for drift against it: <see cref="VerifyAsync"/> compares the live
    /// catalog with this record when it was made for the same migrations.
    /// </summary>
    private async Task RecordCatalogAsync(NpgsqlConnection connection, IReadOnlyDictionary<long, (DateTimeOffset AppliedOn, string Description)> applied, CancellationToken cancellationToken)
    {
        var declared = await DeclaredCatalogAsync(connection, applied.Keys.ToHashSet(), cancellationToken).ConfigureAwait(false);
        var table = $"{SchemaName.Quote(Schema)}.{CatalogTable}";
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            await connection.ExecuteAsync(new CommandDefinition(
                $"create table if not exists {table} (versions bigint[] not null, catalog jsonb not null, recorded_at timestamptz not null default now())",
                transaction: transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition($"delete from {table}", transaction: transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await connection.ExecuteAsync(new CommandDefinition(
                $"insert into {table} (versions, catalog) values (@versions, @catalog::jsonb)",
                new { versions = applied.Keys.Order().ToArray(), catalog = System.Text.Json.JsonSerializer.Serialize(declared) },
                transaction,
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Records the catalog when a release that records it first meets a schema migrated by one that did not.</summary>
    private async Task RecordCatalogIfMissingAsync(NpgsqlConnection connection, IReadOnlyDictionary<long, (DateTimeOffset AppliedOn, string Description)> applied, CancellationToken cancellationToken)
    {
        if (await RecordedCatalogAsync(connection, applied, cancellationToken).ConfigureAwait(false) is not null)
        {
            return;
        }

        try
        {
            await RecordCatalogAsync(connection, applied, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            // The application role may not; the owner's next run records it. Drift checks say so until then.
        }
    }

    /// <summary>The recorded catalog, when one was recorded for exactly the applied migrations.</summary>
    private async Task<IReadOnlyList<CatalogObject>?> RecordedCatalogAsync(NpgsqlConnection connection, IReadOnlyDictionary<long, (DateTimeOffset AppliedOn, string Description)> applied, CancellationToken cancellationToken)
    {
        var table = $"{SchemaName.Quote(Schema)}.{CatalogTable}";
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition("select to_regclass(@table) is not null", new { table }, cancellationToken: cancellationToken)).ConfigureAwait(false))
        {
            return null;
        }

        RecordedRow? row;
        try
        {
            row = await connection.QuerySingleOrDefaultAsync<RecordedRow>(new CommandDefinition(
                $"select versions as Versions, catalog::text as Catalog from {table} limit 1", cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return null; // a role granted before the record existed: `pliers-data grant` again
        }

        return row is not null && row.Versions.Order().SequenceEqual(applied.Keys.Order())
            ? System.Text.Json.JsonSerializer.Deserialize<CatalogObject[]>(row.Catalog)
            : null;
    }

    private sealed class RecordedRow
    {
        public long[] Versions { get; set; } = [];

        public string Catalog { get; set; } = "[]";
    }

    /// <summary>The PostgreSQL permission error inside a migration run's exception, if that is what stopped it.</summary>
    private static PostgresException? Privilege(Exception e)
    {
        for (Exception? inner = e; inner is not null; inner = inner.InnerException)
        {
            if (inner is PostgresException { SqlState: PostgresErrorCodes.InsufficientPrivilege } denied)
            {
                return denied;
            }
        }

        return null;
    }

    private PliersDataException NotAllowed(NpgsqlConnection connection, int pending, PostgresException denied) => new(
        $"Role '{connection.UserName}' may not apply the {pending} pending Pliers migration(s) to schema '{Schema}' (SQLSTATE {denied.SqlState}, insufficient privilege). "
        + "Run them as the schema's owner: set PliersDataOptions.MigrationConnectionString to the owner's connection string, "
        + "or run `pliers-data migrate --connection \"<owner connection string>\"` before the application starts.",
        denied);

    private static PliersMigrationStatus BuildStatus(IReadOnlyDictionary<long, (DateTimeOffset AppliedOn, string Description)> applied)
    {
        var known = PliersMigrations.All(PliersDataOptions.DefaultSchema)
            .Select(m => new PliersMigrationInfo(m.Version, m.Description, applied.TryGetValue(m.Version, out var a) ? a.AppliedOn : null))
            .ToArray();
        var unknown = applied.Keys.Where(v => !PliersMigrations.Versions.Contains(v)).Order().ToArray();
        return new PliersMigrationStatus(string.Empty, known, unknown);
    }

    private static long MaxVersion(IReadOnlyDictionary<long, (DateTimeOffset, string)> applied) =>
        applied.Count == 0 ? 0 : applied.Keys.Max();

    private async Task<IReadOnlyDictionary<long, (DateTimeOffset AppliedOn, string Description)>> ReadAppliedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // Dapper for the small, cold reads: parameters and the CancellationToken go through CommandDefinition,
        // and nothing process-wide (type handlers, naming) is touched.
        var table = $"{SchemaName.Quote(Schema)}.{PliersVersionTableMetaData.Table}";
        var exists = await connection.ExecuteScalarAsync<bool>(
            new CommandDefinition("select to_regclass(@table) is not null", new { table }, cancellationToken: cancellationToken)).ConfigureAwait(false);
        if (!exists)
        {
            return new Dictionary<long, (DateTimeOffset, string)>();
        }

        var rows = await connection.QueryAsync<AppliedRow>(
            new CommandDefinition($"select version as Version, applied_on as AppliedOn, coalesce(description, '') as Description from {table}", cancellationToken: cancellationToken)).ConfigureAwait(false);
        return rows.ToDictionary(
            r => r.Version,
            r => (r.AppliedOn is { } on ? new DateTimeOffset(DateTime.SpecifyKind(on, DateTimeKind.Utc)) : DateTimeOffset.MinValue, r.Description));
    }

    private sealed record AppliedRow(long Version, DateTime? AppliedOn, string Description);

    private async Task DropVersionTableAndEmptySchemaAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var schema = SchemaName.Quote(Schema);
        await using (var drop = new NpgsqlCommand($"drop table if exists {schema}.{PliersVersionTableMetaData.Table}, {schema}.{CatalogTable}", connection))
        {
            await drop.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // The schema goes too, but only when nothing else lives in it: RESTRICT refuses otherwise.
        try
        {
            await using var dropSchema = new NpgsqlCommand($"drop schema if exists {schema} restrict", connection);
            await dropSchema.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.DependentObjectsStillExist)
        {
            // The host keeps objects of its own in this schema; leave it.
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> on a connection of its own while a transaction on a second connection holds
    /// <c>pg_advisory_xact_lock(key)</c>. A transaction keeps its server connection also through a transaction-pooling
    /// PgBouncer, so the lock holds through a pooler as well as on a direct connection, and it goes with the
    /// transaction: at the end of the run, or when the holder's connection dies. The transaction takes no snapshot
    /// between statements and writes nothing, so it holds back neither vacuum nor the event store's horizon. Waiting is
    /// bounded by <see cref="PliersDataOptions.MigrationLockTimeout"/> and changes no setting.
    /// </summary>
    private async Task<T> WithLockAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancellationToken)
    {
        // The holder is a physical connection of its own (outside every pool): a pool of one must not deadlock the run.
        var holder = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_database.MigrationConnectionString) { Pooling = false }.ConnectionString);
        await using (holder.ConfigureAwait(false))
        {
            await holder.OpenAsync(cancellationToken).ConfigureAwait(false);
            var key = LockKey(Schema);
            var waiting = Stopwatch.StartNew();
            var held = await TakeLockAsync(holder, key, waiting, cancellationToken).ConfigureAwait(false);
            await using (held.ConfigureAwait(false))
            {
                PliersLog.MigrationLockTaken(_logger, Schema, waiting.ElapsedMilliseconds);
                try
                {
                    var work = await OpenMigrationConnectionAsync(cancellationToken).ConfigureAwait(false);
                    await using (work.ConfigureAwait(false))
                    {
                        return await action(work).ConfigureAwait(false);
                    }
                }
                finally
                {
                    if (holder.State == System.Data.ConnectionState.Open)
                    {
                        await held.CommitAsync(CancellationToken.None).ConfigureAwait(false); // releases the lock
                    }
                }
            }
        }
    }

    /// <summary>
    /// Takes the lock in a transaction that stays open. The wait is a loop of short transactions with
    /// <c>pg_try_advisory_xact_lock</c> (50 ms, doubling to 1 s between tries, up to the lock timeout): a host that
    /// waits holds no server connection of a pooler between tries, so waiting hosts cannot starve the holder's pool.
    /// </summary>
    private async Task<NpgsqlTransaction> TakeLockAsync(NpgsqlConnection holder, long key, Stopwatch waiting, CancellationToken cancellationToken)
    {
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var transaction = await holder.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            bool taken;
            await using (var take = new NpgsqlCommand("select pg_try_advisory_xact_lock(@key)", holder, transaction))
            {
                take.Parameters.AddWithValue("key", key);
                taken = (bool)(await take.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            if (taken)
            {
                return transaction;
            }

            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
            await transaction.DisposeAsync().ConfigureAwait(false);
            if (waiting.Elapsed >= _lockTimeout)
            {
                throw new PliersDataException(
                    $"Timed out after {_lockTimeout} waiting for another host to finish migrating schema '{Schema}' (advisory lock {key}).");
            }

            var left = _lockTimeout - waiting.Elapsed;
            await Task.Delay(pause < left ? pause : left, cancellationToken).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, TimeSpan.FromSeconds(1).Ticks));
        }
    }

    /// <summary>A connection for migrations: the migration connection string's when one is set (the owner, direct), else the data source's.</summary>
    private async Task<NpgsqlConnection> OpenMigrationConnectionAsync(CancellationToken cancellationToken)
    {
        if (!_database.OwnMigrationConnection)
        {
            return await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }

        var connection = new NpgsqlConnection(_database.MigrationConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private Task RunAsync(Action<IMigrationRunner> run, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // FluentMigrator's runner is synchronous; run it off the caller's thread.
        return Task.Run(
            () =>
            {
                using var services = BuildRunnerServices();
                using var scope = services.CreateScope();
                run(scope.ServiceProvider.GetRequiredService<IMigrationRunner>());
            },
            cancellationToken);
    }

    private ServiceProvider BuildRunnerServices()
    {
        var services = new ServiceCollection()
            .AddFluentMigratorCore()
            .ConfigureRunner(runner => runner
                .AddPostgres()
                .WithGlobalConnectionString(_database.MigrationConnectionString)
                .WithGlobalCommandTimeout(TimeSpan.FromMinutes(10)))
            .AddSingleton(_loggerFactory)
            .AddSingleton(typeof(ILogger<>), typeof(Logger<>))
            .AddSingleton<IFilteringMigrationSource>(new PliersMigrationSource(Schema))
            .AddScoped<IVersionTableMetaData>(_ => new PliersVersionTableMetaData(Schema));
        return services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = false, ValidateScopes = false });
    }
}
