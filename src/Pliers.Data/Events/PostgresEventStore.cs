using System.Runtime.CompilerServices;
using System.Text.Json;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Internal;

namespace Pliers.Data.Events;

/// <summary>
/// The PostgreSQL event store; see <see cref="IEventStore"/>. Reads and lookups go through Dapper; the append is the
/// one raw-Npgsql statement (explicitly prepared per physical connection, see docs/architecture.md).
/// </summary>
internal sealed class PostgresEventStore : IEventStore, IAsyncDisposable
{
    internal const int MaxAggregateTypeLength = 100;
    internal const int MaxEventTypeLength = 200;
    internal const string Channel = "pliers_events";

    /// <summary>The aggregate types the library writes itself; <see cref="IEventStore"/> callers cannot append to them.</summary>
    internal static readonly string[] ReservedAggregateTypes = [PliersAggregateTypes.FormDefinition, PliersAggregateTypes.FormSubmission];

    private readonly AppendSignal _signal;
    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private readonly EventNotifications? _notifications;
    private readonly TenantScope _tenant;
    private readonly PliersDatabase _database;
    private readonly bool _view;

    public PostgresEventStore(PliersDatabase database, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _database = database;
        _tenant = database.DefaultTenant;
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _notifications = database.ListenDataSource is { } listen ? new EventNotifications(listen, Channel, database.Schema) : null;
        _signal = new AppendSignal(database.DataSource, database.Schema);
        Table = new EventsTable(database);
    }

    /// <summary>A view of <paramref name="root"/> in another tenant: it shares everything else (and disposes nothing).</summary>
    private PostgresEventStore(PostgresEventStore root, TenantScope tenant)
    {
        _database = root._database;
        _logger = root._logger;
        _notifications = root._notifications;
        _signal = root._signal;
        Table = root.Table;
        _tenant = tenant;
        _view = true;
    }

    public string TenantId => _tenant.Id;

    public IEventStore ForTenant(string tenantId) => new PostgresEventStore(this, _database.Tenant(tenantId));

    /// <summary>Gets the events table's statements.</summary>
    internal EventsTable Table { get; }

    public Task<AppendResult> AppendAsync(Guid aggregateId, string aggregateType, ExpectedVersion expectedVersion, IReadOnlyList<NewEvent> events, CancellationToken cancellationToken = default)
    {
        if (ReservedAggregateTypes.Contains(aggregateType, StringComparer.Ordinal))
        {
            throw new ArgumentException(
                $"Streams of the aggregate type '{aggregateType}' are written by the library itself (form definitions and submissions); choose an aggregate type of your own.",
                nameof(aggregateType));
        }

        return PliersTelemetry.TraceAsync("events.append", () => AppendCoreAsync(aggregateId, aggregateType, expectedVersion, events, cancellationToken));
    }

    private async Task<AppendResult> AppendCoreAsync(Guid aggregateId, string aggregateType, ExpectedVersion expectedVersion, IReadOnlyList<NewEvent> events, CancellationToken cancellationToken)
    {
        var batch = AppendBatch.Create(aggregateType, events, _database.MaxDocumentDepth);
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // "Any version" goes after whoever won: every lost attempt means another append succeeded, so the loop
            // makes progress; the bound only stops a pathological loop.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var (positions, transaction, version) = await InsertAsync(connection, aggregateId, expectedVersion, batch, cancellationToken).ConfigureAwait(false);
                    if (positions.Count == batch.Count)
                    {
                        Announce(batch.Count);
                        return new AppendResult(version, positions, transaction);
                    }
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation
                                                  && e.ConstraintName is "events_stream_version_key" or "events_pkey")
                {
                    // Another writer took the version first, or these ids were written before; decided below.
                    if (expectedVersion.IsAny && e.ConstraintName == "events_stream_version_key" && attempt < 1000)
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        continue;
                    }
                }
                catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
                {
                    throw translated;
                }

                return await ResolveConflictAsync(connection, aggregateId, aggregateType, expectedVersion, batch, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The hot path, on raw Npgsql: Dapper cannot ask for a command to be prepared, and this statement (an
    /// unnest of six arrays) costs more to parse and plan than to run. Prepared once per physical connection
    /// (Npgsql keeps it across pool rentals), whatever the host's data source settings.
    /// </summary>
    private async Task<(List<long> Positions, ulong Transaction, long Version)> InsertAsync(NpgsqlConnection connection, Guid aggregateId, ExpectedVersion expectedVersion, AppendBatch batch, CancellationToken cancellationToken)
    {
        var one = batch.Count == 1;
        var sql = (one, expectedVersion.IsAny) switch
        {
            (true, true) => Table.AppendOneAny,
            (true, false) => Table.AppendOne,
            (false, true) => Table.AppendAny,
            (false, false) => Table.Append,
        };
        await using var statement = _tenant.Batch(connection, sql, p =>
        {
            p.Add("aggregate_id", NpgsqlDbType.Uuid, aggregateId);
            p.Add("aggregate_type", NpgsqlDbType.Text, batch.AggregateType);
            if (!expectedVersion.IsAny)
            {
                p.Add("expected", NpgsqlDbType.Integer, (int)expectedVersion.Value);
            }

            if (one)
            {
                p.Add("id", NpgsqlDbType.Uuid, batch.Ids[0]);
                p.Add("event_type", NpgsqlDbType.Text, batch.Types[0]);
                p.Add("event_data", NpgsqlDbType.Text, batch.Data[0]);
                p.Add("correlation_id", NpgsqlDbType.Uuid, batch.Correlations[0]);
                p.Add("causation_id", NpgsqlDbType.Uuid, batch.Causations[0]);
                p.Add("metadata", NpgsqlDbType.Text, batch.Metadata[0]);
            }
            else
            {
                p.Add("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid, batch.Ids);
                p.Add("types", NpgsqlDbType.Array | NpgsqlDbType.Text, batch.Types);
                p.Add("data", NpgsqlDbType.Array | NpgsqlDbType.Text, batch.Data);
                p.Add("correlations", NpgsqlDbType.Array | NpgsqlDbType.Uuid, batch.Correlations);
                p.Add("causations", NpgsqlDbType.Array | NpgsqlDbType.Uuid, batch.Causations);
                p.Add("metadata", NpgsqlDbType.Array | NpgsqlDbType.Text, batch.Metadata);
            }
        });
        var positions = new List<long>(batch.Count);
        ulong transaction = 0;
        long version = 0;
        await using var reader = await Db.ExecuteAsync(statement, _database.PrepareStatements, cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            positions.Add(reader.GetInt64(0));
            transaction = reader.GetFieldValue<ulong>(1);
            version = Math.Max(version, reader.GetInt32(2));
        }

        return (positions, transaction, version);
    }

    /// <summary>
    /// Nothing was written: either this very append succeeded before (a retry after a lost reply; the stored ids
    /// match), or the stream is elsewhere and the caller gets a concurrency error built from the request.
    /// </summary>
    private async Task<AppendResult> ResolveConflictAsync(NpgsqlConnection connection, Guid aggregateId, string aggregateType, ExpectedVersion expectedVersion, AppendBatch batch, CancellationToken cancellationToken)
    {
        var stored = (await connection.QueryAsync<StoredIdRow>(_tenant.Command(Table.FindByIds, new { ids = batch.Ids }, cancellationToken)).ConfigureAwait(false))
            .ToDictionary(r => r.Id);
        if (stored.Count == batch.Count && stored.Values.All(s => s.AggregateId == aggregateId))
        {
            var rows = batch.Ids.Select(id => stored[id]).ToArray();
            var first = rows[0].EventVersion;
            var contiguous = rows.Select((r, i) => r.EventVersion == first + i).All(x => x);
            if (contiguous && (expectedVersion.IsAny || first == expectedVersion.Value + 1))
            {
                // The earlier append of these very events succeeded: its own result, whatever came after it.
                return new AppendResult(rows[^1].EventVersion, rows.Select(r => r.Position).ToArray(), rows[0].TransactionId);
            }
        }

        if (stored.Count > 0)
        {
            var clash = stored.Values.First();
            throw new PliersConflictException(
                $"Event id {clash.Id} is already stored (stream {clash.AggregateId}, version {clash.EventVersion}) and this append does not repeat that one; use new ids for new events.",
                "events_pkey");
        }

        var head = await connection.QuerySingleOrDefaultAsync<StreamHeadRow>(_tenant.Command(Table.StreamHead, new { aggregate_id = aggregateId }, cancellationToken)).ConfigureAwait(false);
        if (head is not null && head.AggregateType != aggregateType)
        {
            throw new PliersConflictException(
                $"Stream {aggregateId} belongs to the aggregate type '{head.AggregateType}' (fixed by its first event), not '{aggregateType}'; nothing was written.",
                "events_stream_aggregate_type");
        }

        var actual = head?.Version ?? 0;
        PliersLog.AppendConflict(_logger, aggregateId, expectedVersion.ToString(), actual);
        throw new PliersConcurrencyException(
            $"Stream {aggregateId} is at version {actual}, not at the expected version {expectedVersion}; nothing was written.",
            aggregateId,
            expectedVersion.Value,
            actual);
    }

    public async Task<long> GetStreamVersionAsync(Guid aggregateId, CancellationToken cancellationToken = default)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.ExecuteScalarAsync<long>(_tenant.Command(Table.StreamVersion, new { aggregate_id = aggregateId }, cancellationToken)).ConfigureAwait(false);
        }
    }

    public IAsyncEnumerable<StoredEvent> ReadStreamAsync(Guid aggregateId, long fromVersion = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fromVersion);
        return ReadStreamCoreAsync(Table.ReadStream, aggregateId, fromVersion, cancellationToken);
    }

    public IAsyncEnumerable<StoredEvent> ReadStreamBackwardAsync(Guid aggregateId, long? fromVersion = null, CancellationToken cancellationToken = default)
    {
        if (fromVersion is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(fromVersion), fromVersion, "The version must not be negative.");
        }

        return ReadStreamCoreAsync(Table.ReadStreamBackward, aggregateId, fromVersion ?? long.MaxValue, cancellationToken);
    }

    /// <summary>
    /// The stream reads, the other half of the hot path (an aggregate loads its stream before every command): the
    /// command is built on raw Npgsql only to prepare it explicitly per physical connection, as the append is (Dapper
    /// cannot ask for preparation, and a host's own data source has Npgsql's automatic preparation off by default);
    /// rows are still mapped by Dapper's row parser. Measured with <c>pool.load</c> (docs/performance.md).
    /// </summary>
    private async IAsyncEnumerable<StoredEvent> ReadStreamCoreAsync(PositionalStatement sql, Guid aggregateId, long version, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var statement = _tenant.Batch(connection, sql, p =>
            {
                p.Add("aggregate_id", NpgsqlDbType.Uuid, aggregateId);
                p.Add("version", NpgsqlDbType.Bigint, version);
            });
            await using (statement.ConfigureAwait(false))
            {
                var reader = await Db.ExecuteAsync(statement, _database.PrepareStatements, cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    await foreach (var row in Db.RowsAsync<EventRow>(reader, cancellationToken).ConfigureAwait(false))
                    {
                        yield return row.ToEvent(_database.MaxDocumentDepth);
                    }
                }
            }
        }
    }

    public IAsyncEnumerable<StoredEvent> ReadByCorrelationIdAsync(Guid correlationId, CancellationToken cancellationToken = default) =>
        QueryAsync(Table.ReadByCorrelation, new { correlation_id = correlationId }, cancellationToken);

    public IAsyncEnumerable<StoredEvent> ReadAllAsync(GlobalPosition after, int maxCount, EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        return ReadAllCoreAsync(after, maxCount, filter, cancellationToken);
    }

    private async IAsyncEnumerable<StoredEvent> ReadAllCoreAsync(GlobalPosition after, int maxCount, EventFilter? filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (sql, parameters) = Table.ReadAll(after, maxCount, filter, namedTenant: _tenant.Id.Length > 0);
        var returned = 0;
        await foreach (var e in QueryAsync(sql, parameters, cancellationToken).ConfigureAwait(false))
        {
            returned++;
            yield return e;
        }

        if (returned == 0)
        {
            await ThrowIfRestoredBehindAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Stored transaction ids at or beyond the server's next one mean the events were restored into a cluster
    /// whose transaction counter is behind: global readers would wait for them forever. Say so instead of
    /// returning nothing.
    /// </summary>
    private async Task ThrowIfRestoredBehindAsync(CancellationToken cancellationToken)
    {
        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            if (await connection.ExecuteScalarAsync<bool>(_database.AllTenants.Command(Table.RestoreCheck, null, cancellationToken)).ConfigureAwait(false))
            {
                throw new PliersDataException(
                    "The events table holds transaction ids ahead of this server's transaction counter (the database was restored into a new cluster). " +
                    "Global reads cannot make progress until the counter is advanced past them: see 'Restoring a backup' in docs/event-store.md.");
            }
        }
    }

    /// <summary>
    /// A subscription that survives a lost connection (a server restart, a killed backend, a failover): on a
    /// transient error it reconnects with backoff (100 ms, doubling to 5 s; reset by progress) and continues after
    /// the last event it delivered, so nothing is skipped and nothing delivered twice. Other errors end it.
    /// </summary>
    public async IAsyncEnumerable<StoredEvent> SubscribeAllAsync(GlobalPosition after, EventFilter? filter = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var checkpoint = after;
        var backoff = TimeSpan.FromMilliseconds(100);
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var attempt = SubscribeOnceAsync(checkpoint, filter, cancellationToken).GetAsyncEnumerator(cancellationToken);
            Exception? lost = null;
            try
            {
                while (true)
                {
                    try
                    {
                        if (!await attempt.MoveNextAsync().ConfigureAwait(false))
                        {
                            yield break;
                        }
                    }
                    catch (Exception e) when (PostgresErrors.IsTransient(e) && !cancellationToken.IsCancellationRequested)
                    {
                        lost = e;
                        break;
                    }

                    checkpoint = attempt.Current.GlobalPosition;
                    backoff = TimeSpan.FromMilliseconds(100);
                    yield return attempt.Current;
                }
            }
            finally
            {
                try
                {
                    await attempt.DisposeAsync().ConfigureAwait(false);
                }
                catch (Exception e) when (PostgresErrors.IsTransient(e))
                {
                    // the connection is already gone
                }
            }

            PliersLog.SubscriptionReconnecting(_logger, _database.Schema, checkpoint.ToString(), (long)backoff.TotalMilliseconds, lost!);
            await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    /// <summary>
    /// Reads through <see cref="ReadAllAsync"/> in batches, then waits for the store's shared LISTEN connection
    /// (<see cref="EventNotifications"/>, one for all subscriptions) to announce an append, or a second at most.
    /// </summary>
    private async IAsyncEnumerable<StoredEvent> SubscribeOnceAsync(GlobalPosition after, EventFilter? filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int batchSize = 500;
        if (_database.ListenDataSource is null)
        {
            // Behind a transaction pooler without a listen connection: LISTEN would stay behind on a pooled server
            // connection and hear nothing, so read again every second (the delay is bounded by that second).
            var position = after;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var read = 0;
                await foreach (var e in ReadAllAsync(position, batchSize, filter, cancellationToken).ConfigureAwait(false))
                {
                    read++;
                    position = e.GlobalPosition;
                    yield return e;
                }

                if (read < batchSize)
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
                }
            }
        }

        var checkpoint = after;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();

            // Taken before reading: an announcement that arrives while we read completes it.
            var woken = _notifications!.Next;
            var read = 0;
            await foreach (var e in ReadAllAsync(checkpoint, batchSize, filter, cancellationToken).ConfigureAwait(false))
            {
                read++;
                checkpoint = e.GlobalPosition;
                yield return e;
            }

            if (read == batchSize || woken.IsCompleted)
            {
                continue; // more to read, or something committed while we were reading
            }

            // Wait for an append to be announced. Writes that bypass the library, and a transaction that holds the
            // horizon back and then ends without writing events, announce nothing: look again after a second regardless.
            await Task.WhenAny(woken, Task.Delay(TimeSpan.FromSeconds(1), cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Completes at the next append announced on the shared LISTEN connection after the call, or <see langword="null"/>
    /// when nothing listens (behind a transaction pooler without a listen connection: poll).
    /// </summary>
    internal Task? NextAnnouncement => _notifications?.Next;

    public async ValueTask DisposeAsync()
    {
        if (_view)
        {
            return;
        }

        if (_notifications is not null)
        {
            await _notifications.DisposeAsync().ConfigureAwait(false);
        }

        await _signal.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Counts and announces appended events after their transaction has committed (wakes subscribers).</summary>
    internal void Announce(int events)
    {
        PliersTelemetry.EventsAppended.Add(events);
        _signal.Poke();
    }

    public async Task<GlobalPosition> GetHeadPositionAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var head = await connection.QuerySingleOrDefaultAsync<HeadRow>(_database.AllTenants.Command(Table.Head, null, cancellationToken)).ConfigureAwait(false);
            return head is null ? GlobalPosition.Start : new GlobalPosition(head.TransactionId, head.Position);
        }
    }

    public async Task<TimeSpan> GetReaderLagAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var seconds = await connection.ExecuteScalarAsync<double>(_database.AllTenants.Command(Table.ReaderLag, null, cancellationToken)).ConfigureAwait(false);
            return TimeSpan.FromSeconds(seconds);
        }
    }

    private async IAsyncEnumerable<StoredEvent> QueryAsync(string sql, object parameters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var row in Db.StreamAsync<EventRow>(_database.ReadDataSource, _tenant, sql, parameters, cancellationToken).ConfigureAwait(false))
        {
            yield return row.ToEvent(_database.MaxDocumentDepth);
        }
    }
}

/// <summary>The validated columns of one append, as arrays for <c>unnest</c>.</summary>
internal sealed class AppendBatch
{
    private AppendBatch(int count)
    {
        Count = count;
        Ids = new Guid[count];
        Types = new string[count];
        Data = new string[count];
        Correlations = new Guid?[count];
        Causations = new Guid?[count];
        Metadata = new string?[count];
    }

    public int Count { get; }

    public string AggregateType { get; private init; } = string.Empty;

    public Guid[] Ids { get; }

    public string[] Types { get; }

    public string[] Data { get; }

    public Guid?[] Correlations { get; }

    public Guid?[] Causations { get; }

    public string?[] Metadata { get; }

    public static AppendBatch Create(string aggregateType, IReadOnlyList<NewEvent> events, int maxDepth)
    {
        ArgumentNullException.ThrowIfNull(events);
        CheckType(aggregateType, PostgresEventStore.MaxAggregateTypeLength, nameof(aggregateType), "aggregate type");
        if (events.Count == 0)
        {
            throw new ArgumentException("Append at least one event.", nameof(events));
        }

        var batch = new AppendBatch(events.Count) { AggregateType = aggregateType };
        var seen = new HashSet<Guid>();
        for (var i = 0; i < events.Count; i++)
        {
            var e = events[i] ?? throw new ArgumentException($"Event {i} is null.", nameof(events));
            CheckType(e.EventType, PostgresEventStore.MaxEventTypeLength, nameof(events), $"event type of event {i}");
            if (!seen.Add(e.Id))
            {
                throw new ArgumentException($"Event id {e.Id} appears twice in one append.", nameof(events));
            }

            batch.Ids[i] = e.Id;
            batch.Types[i] = e.EventType;
            batch.Data[i] = CheckJson(e.Data, $"/{i}/data", e.EventType, maxDepth);
            batch.Correlations[i] = e.CorrelationId;
            batch.Causations[i] = e.CausationId;
            if (e.Metadata is { } metadata)
            {
                if (metadata.ValueKind != JsonValueKind.Object)
                {
                    throw new PliersValidationException(
                        $"Metadata of event {i} ('{e.EventType}') must be a JSON object.",
                        [new PliersValidationError($"/{i}/metadata", "type", "metadata must be a JSON object")]);
                }

                batch.Metadata[i] = CheckJson(metadata.GetRawText(), $"/{i}/metadata", e.EventType, maxDepth);
            }
        }

        return batch;
    }

    private static void CheckType(string? value, int maxLength, string parameter, string what)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new ArgumentException($"The {what} must not be blank.", parameter);
        }

        if (value.Length > maxLength)
        {
            throw new ArgumentException($"The {what} is {value.Length} characters long; at most {maxLength} are allowed.", parameter);
        }

        if (char.IsWhiteSpace(value[0]) || char.IsWhiteSpace(value[^1]))
        {
            throw new ArgumentException($"The {what} '{value}' has leading or trailing whitespace.", parameter);
        }
    }

    private static string CheckJson(string text, string path, string eventType, int maxDepth)
    {
        if (string.IsNullOrEmpty(text))
        {
            throw new PliersValidationException(
                $"Event '{eventType}' has no data.",
                [new PliersValidationError(path, "json", "a JSON value is required")]);
        }

        if (JsonText.Problem(text) is { } problem)
        {
            throw new PliersValidationException(
                $"Event '{eventType}' contains text PostgreSQL's jsonb cannot store: {problem}.",
                [new PliersValidationError(path, "jsonb", problem)]);
        }

        JsonDepth.Check(text, maxDepth, path, $"Event '{eventType}'");
        return text;
    }
}
