using System.Runtime.CompilerServices;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Internal;

namespace Pliers.Data.Events;

/// <summary>The PostgreSQL event store; see <see cref="IEventStore"/>.</summary>
internal sealed class PostgresEventStore : IEventStore, IAsyncDisposable
{
    internal const int MaxAggregateTypeLength = 100;
    internal const int MaxEventTypeLength = 200;
    private const string Columns = "id, aggregate_id, aggregate_type, event_type, event_version, event_data, metadata, correlation_id, causation_id, created_at, position, transaction_id";

    internal const string Channel = "pliers_events";

    /// <summary>Gets the quoted, schema-qualified events table.</summary>
    internal string Table { get; }

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _read;
    private readonly string _schema;
    private readonly AppendSignal _signal;
    private readonly string _append;
    private readonly string _appendAny;
    private readonly string _findByIds;
    private readonly string _streamVersion;
    private readonly string _readStream;
    private readonly string _readStreamBackward;
    private readonly string _readByCorrelation;
    private readonly string _readAllHead;
    private readonly string _restoreCheck;

    private readonly Microsoft.Extensions.Logging.ILogger _logger;
    private readonly int _maxDepth;
    private readonly string _readerLag;
    private readonly string _streamHead;

    /// <summary>The aggregate types the library writes itself; <see cref="IEventStore"/> callers cannot append to them.</summary>
    internal static readonly string[] ReservedAggregateTypes = ["form_definition", "form_submission"];

    public PostgresEventStore(PliersDatabase database, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _dataSource = database.DataSource;
        _read = database.ReadDataSource;
        _schema = database.Schema;
        Table = database.QuotedSchema + ".events";
        _signal = new AppendSignal(database.DataSource, database.Schema);
        _maxDepth = database.MaxDocumentDepth;
        var events = database.QuotedSchema + ".events";

        // One statement: the version check and the insert of the whole batch. When the stream is not at the
        // expected version no row is inserted and no identity value is taken; a concurrent writer that slips
        // in between is stopped by the unique key on (aggregate_id, event_version).
        // One statement: the version and aggregate-type check and the insert of the whole batch. The stream's head
        // (its last event) is one backward step on the (aggregate_id, event_version) index. When the stream is not
        // at the expected version, or belongs to another aggregate type, no row is inserted and no identity value is
        // taken; a concurrent writer that slips in between is stopped by the unique key on (aggregate_id, event_version).
        _append = $"""
            with head as (select event_version, aggregate_type from {events} where aggregate_id = @aggregate_id order by event_version desc limit 1)
            insert into {events} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id, metadata)
            select e.id, @aggregate_id, @aggregate_type, e.event_type, e.event_data, @expected + e.ord, e.correlation_id, e.causation_id, e.metadata
            from unnest(@ids, @types, @data, @correlations, @causations, @metadata)
                with ordinality as e(id, event_type, event_data, correlation_id, causation_id, metadata, ord)
            where coalesce((select event_version from head), 0) = @expected
              and coalesce((select aggregate_type from head), @aggregate_type) = @aggregate_type
            order by e.ord
            returning position, transaction_id, event_version
            """;
        _appendAny = $"""
            with head as (select event_version, aggregate_type from {events} where aggregate_id = @aggregate_id order by event_version desc limit 1)
            insert into {events} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id, metadata)
            select e.id, @aggregate_id, @aggregate_type, e.event_type, e.event_data, coalesce((select event_version from head), 0) + e.ord, e.correlation_id, e.causation_id, e.metadata
            from unnest(@ids, @types, @data, @correlations, @causations, @metadata)
                with ordinality as e(id, event_type, event_data, correlation_id, causation_id, metadata, ord)
            where coalesce((select aggregate_type from head), @aggregate_type) = @aggregate_type
            order by e.ord
            returning position, transaction_id, event_version
            """;
        _streamHead = $"select event_version, aggregate_type from {events} where aggregate_id = @aggregate_id order by event_version desc limit 1";

        // Lag as readers see it, from data every role with SELECT on the events can read: how long the oldest
        // committed event has been waiting behind the read horizon (an older transaction still running, prepared
        // transactions included, anywhere in the cluster). Zero when global readers can see everything committed.
        _readerLag = $"""
            select coalesce(extract(epoch from clock_timestamp() - min(created_at)), 0)::float8
            from {events}
            where transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
            """;
        _findByIds = $"select id, aggregate_id, event_version, position, transaction_id from {events} where id = any(@ids)";
        _streamVersion = $"select coalesce(max(event_version), 0) from {events} where aggregate_id = @aggregate_id";
        _readStream = $"select {Columns} from {events} where aggregate_id = @aggregate_id and event_version >= @version order by event_version";
        _readStreamBackward = $"select {Columns} from {events} where aggregate_id = @aggregate_id and event_version <= @version order by event_version desc";
        _readByCorrelation = $"select {Columns} from {events} where correlation_id = @correlation_id order by transaction_id, position";

        // Only transactions older than the oldest one still running are complete: below that horizon no
        // event can still appear, so reading (transaction_id, position) in order never skips one.
        _readAllHead = $"""
            select {Columns} from {events}
            where (transaction_id, position) > (@transaction_id, @position)
              and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            """;
        _restoreCheck = $"select max(transaction_id) >= pg_snapshot_xmax(pg_current_snapshot()) from {events}";
    }

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
        var batch = AppendBatch.Create(aggregateType, events, _maxDepth);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // "Any version" goes after whoever won: every lost attempt means another append succeeded, so the loop
            // makes progress; the bound only stops a pathological loop.
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var (positions, transaction, version) = await InsertAsync(connection, expectedVersion, batch, aggregateId, cancellationToken).ConfigureAwait(false);
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
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UntranslatableCharacter)
                {
                    throw new PliersValidationException(
                        "Event data contains a character PostgreSQL's jsonb cannot store (\\u0000).",
                        [new PliersValidationError(string.Empty, "jsonb", "\\u0000 is not allowed in jsonb text")],
                        e);
                }

                return await ResolveConflictAsync(connection, aggregateId, aggregateType, expectedVersion, batch, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<(List<long> Positions, ulong Transaction, long Version)> InsertAsync(NpgsqlConnection connection, ExpectedVersion expectedVersion, AppendBatch batch, Guid aggregateId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(expectedVersion.IsAny ? _appendAny : _append, connection);
        Bind(command.Parameters, aggregateId, batch.AggregateType, expectedVersion, batch);

        // Prepared once per physical connection (Npgsql keeps it across pool rentals): the insert's plan is
        // reused instead of parsed and planned on every append.
        await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
        var positions = new List<long>(batch.Count);
        ulong transaction = 0;
        long version = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
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
        var stored = new Dictionary<Guid, (Guid Aggregate, long Version, long Position, ulong Transaction)>();
        await using (var command = new NpgsqlCommand(_findByIds, connection))
        {
            command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = batch.Ids });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                stored[reader.GetGuid(0)] = (reader.GetGuid(1), reader.GetInt32(2), reader.GetInt64(3), reader.GetFieldValue<ulong>(4));
            }
        }

        if (stored.Count == batch.Count && stored.Values.All(s => s.Aggregate == aggregateId))
        {
            var rows = batch.Ids.Select(id => stored[id]).ToArray();
            var first = rows[0].Version;
            var contiguous = rows.Select((r, i) => r.Version == first + i).All(x => x);
            if (contiguous && (expectedVersion.IsAny || first == expectedVersion.Value + 1))
            {
                // The earlier append of these very events succeeded: its own result, whatever came after it.
                return new AppendResult(rows[^1].Version, rows.Select(r => r.Position).ToArray(), rows[0].Transaction);
            }
        }

        if (stored.Count > 0)
        {
            var clash = stored.First();
            throw new PliersConflictException(
                $"Event id {clash.Key} is already stored (stream {clash.Value.Aggregate}, version {clash.Value.Version}) and this append does not repeat that one; use new ids for new events.",
                "events_pkey");
        }

        var (actual, storedType) = await GetStreamHeadAsync(connection, aggregateId, cancellationToken).ConfigureAwait(false);
        if (storedType is not null && storedType != aggregateType)
        {
            throw new PliersConflictException(
                $"Stream {aggregateId} belongs to the aggregate type '{storedType}' (fixed by its first event), not '{aggregateType}'; nothing was written.",
                "events_stream_aggregate_type");
        }

        PliersLog.AppendConflict(_logger, aggregateId, expectedVersion.ToString(), actual);
        throw new PliersConcurrencyException(
            $"Stream {aggregateId} is at version {actual}, not at the expected version {expectedVersion}; nothing was written.",
            aggregateId,
            expectedVersion.Value,
            actual);
    }

    private async Task<(long Version, string? AggregateType)> GetStreamHeadAsync(NpgsqlConnection connection, Guid aggregateId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(_streamHead, connection);
        command.Parameters.Add(new NpgsqlParameter<Guid>("aggregate_id", NpgsqlDbType.Uuid) { TypedValue = aggregateId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? (reader.GetInt32(0), reader.GetString(1)) : (0, null);
    }

    public async Task<long> GetStreamVersionAsync(Guid aggregateId, CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await GetStreamVersionAsync(connection, aggregateId, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<long> GetStreamVersionAsync(NpgsqlConnection connection, Guid aggregateId, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(_streamVersion, connection);
        command.Parameters.Add(new NpgsqlParameter<Guid>("aggregate_id", NpgsqlDbType.Uuid) { TypedValue = aggregateId });
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    public IAsyncEnumerable<StoredEvent> ReadStreamAsync(Guid aggregateId, long fromVersion = 1, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fromVersion);
        return QueryAsync(_readStream, p =>
        {
            p.Add(new NpgsqlParameter<Guid>("aggregate_id", NpgsqlDbType.Uuid) { TypedValue = aggregateId });
            p.Add(new NpgsqlParameter<long>("version", NpgsqlDbType.Bigint) { TypedValue = fromVersion });
        }, cancellationToken);
    }

    public IAsyncEnumerable<StoredEvent> ReadStreamBackwardAsync(Guid aggregateId, long? fromVersion = null, CancellationToken cancellationToken = default)
    {
        if (fromVersion is < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(fromVersion), fromVersion, "The version must not be negative.");
        }

        return QueryAsync(_readStreamBackward, p =>
        {
            p.Add(new NpgsqlParameter<Guid>("aggregate_id", NpgsqlDbType.Uuid) { TypedValue = aggregateId });
            p.Add(new NpgsqlParameter<long>("version", NpgsqlDbType.Bigint) { TypedValue = fromVersion ?? long.MaxValue });
        }, cancellationToken);
    }

    public IAsyncEnumerable<StoredEvent> ReadByCorrelationIdAsync(Guid correlationId, CancellationToken cancellationToken = default) =>
        QueryAsync(_readByCorrelation, p => p.Add(new NpgsqlParameter<Guid>("correlation_id", NpgsqlDbType.Uuid) { TypedValue = correlationId }), cancellationToken);

    public IAsyncEnumerable<StoredEvent> ReadAllAsync(GlobalPosition after, int maxCount, EventFilter? filter = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        return ReadAllCoreAsync(after, maxCount, filter, cancellationToken);
    }

    private async IAsyncEnumerable<StoredEvent> ReadAllCoreAsync(GlobalPosition after, int maxCount, EventFilter? filter, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (sql, bind) = ReadAllCommand(after, maxCount, filter);
        var returned = 0;
        await foreach (var e in QueryAsync(sql, bind, cancellationToken).ConfigureAwait(false))
        {
            returned++;
            yield return e;
        }

        if (returned == 0)
        {
            await ThrowIfRestoredBehindAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private (string Sql, Action<NpgsqlParameterCollection> Bind) ReadAllCommand(GlobalPosition after, int maxCount, EventFilter? filter)
    {
        var sql = _readAllHead;
        var aggregateTypes = filter?.AggregateTypes is { Count: > 0 } a ? a.ToArray() : null;
        var eventTypes = filter?.EventTypes is { Count: > 0 } t ? t.ToArray() : null;
        if (aggregateTypes is not null)
        {
            sql += " and aggregate_type = any(@aggregate_types)";
        }

        if (eventTypes is not null)
        {
            sql += " and event_type = any(@event_types)";
        }

        sql += " order by transaction_id, position limit @max";
        return (sql, p =>
        {
            p.Add(new NpgsqlParameter<ulong>("transaction_id", NpgsqlDbType.Xid8) { TypedValue = after.TransactionId });
            p.Add(new NpgsqlParameter<long>("position", NpgsqlDbType.Bigint) { TypedValue = after.Position });
            p.Add(new NpgsqlParameter<int>("max", NpgsqlDbType.Integer) { TypedValue = maxCount });
            if (aggregateTypes is not null)
            {
                p.Add(new NpgsqlParameter<string[]>("aggregate_types", NpgsqlDbType.Array | NpgsqlDbType.Varchar) { TypedValue = aggregateTypes });
            }

            if (eventTypes is not null)
            {
                p.Add(new NpgsqlParameter<string[]>("event_types", NpgsqlDbType.Array | NpgsqlDbType.Varchar) { TypedValue = eventTypes });
            }
        });
    }

    /// <summary>
    /// Stored transaction ids at or beyond the server's next one mean the events were restored into a cluster
    /// whose transaction counter is behind: global readers would wait for them forever. Say so instead of
    /// returning nothing.
    /// </summary>
    private async Task ThrowIfRestoredBehindAsync(CancellationToken cancellationToken)
    {
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = new NpgsqlCommand(_restoreCheck, connection);
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true)
            {
                throw new PliersDataException(
                    "The events table holds transaction ids ahead of this server's transaction counter (the database was restored into a new cluster). " +
                    "Global reads cannot make progress until the counter is advanced past them: see 'Restoring a backup' in docs/event-store.md.");
            }
        }
    }

    public async IAsyncEnumerable<StoredEvent> SubscribeAllAsync(GlobalPosition after, EventFilter? filter = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        const int batchSize = 500;
        var listener = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (listener.ConfigureAwait(false))
        {
            var woken = 0;
            listener.Notification += (_, e) =>
            {
                if (e.Payload == _schema)
                {
                    Interlocked.Exchange(ref woken, 1);
                }
            };
            await using (var listen = new NpgsqlCommand("listen " + Channel, listener))
            {
                await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var checkpoint = after;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                Interlocked.Exchange(ref woken, 0);
                var read = 0;
                await foreach (var e in ReadAllAsync(checkpoint, batchSize, filter, cancellationToken).ConfigureAwait(false))
                {
                    read++;
                    checkpoint = e.GlobalPosition;
                    yield return e;
                }

                if (read == batchSize || Volatile.Read(ref woken) == 1)
                {
                    continue; // more to read, or something committed while we were reading
                }

                // Wait for an append to be announced. Writes that bypass the library, and a transaction that
                // holds the horizon back and then ends without writing events, announce nothing: look again
                // after a short while regardless. Npgsql treats a timeout that rounds to 0 ms as "wait forever",
                // so the remaining time is never less than 1 ms.
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(1);
                while (Volatile.Read(ref woken) == 0 && DateTime.UtcNow < deadline)
                {
                    var remaining = deadline - DateTime.UtcNow;
                    await listener.WaitAsync(remaining < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : remaining, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    public ValueTask DisposeAsync() => _signal.DisposeAsync();

    /// <summary>
    /// Appends events inside a caller's transaction (the repositories' domain events, written with the row they
    /// describe). The stream continues after whatever it holds; call <see cref="Announce"/> after the commit.
    /// </summary>
    internal NpgsqlBatchCommand AppendCommand(Guid aggregateId, string aggregateType, IReadOnlyList<NewEvent> events)
    {
        var command = new NpgsqlBatchCommand(_appendAny);
        Bind(command.Parameters, aggregateId, aggregateType, ExpectedVersion.Any, AppendBatch.Create(aggregateType, events, _maxDepth));
        return command;
    }

    private static void Bind(NpgsqlParameterCollection parameters, Guid aggregateId, string aggregateType, ExpectedVersion expectedVersion, AppendBatch batch)
    {
        parameters.Add(new NpgsqlParameter<Guid>("aggregate_id", NpgsqlDbType.Uuid) { TypedValue = aggregateId });
        parameters.Add(new NpgsqlParameter<string>("aggregate_type", NpgsqlDbType.Varchar) { TypedValue = aggregateType });
        if (!expectedVersion.IsAny)
        {
            parameters.Add(new NpgsqlParameter<int>("expected", NpgsqlDbType.Integer) { TypedValue = (int)expectedVersion.Value });
        }

        parameters.Add(new NpgsqlParameter<Guid[]>("ids", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = batch.Ids });
        parameters.Add(new NpgsqlParameter<string[]>("types", NpgsqlDbType.Array | NpgsqlDbType.Varchar) { TypedValue = batch.Types });
        parameters.Add(new NpgsqlParameter<string[]>("data", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = batch.Data });
        parameters.Add(new NpgsqlParameter<Guid?[]>("correlations", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = batch.Correlations });
        parameters.Add(new NpgsqlParameter<Guid?[]>("causations", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = batch.Causations });
        parameters.Add(new NpgsqlParameter<string?[]>("metadata", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = batch.Metadata });
    }

    /// <summary>Counts and announces appended events after their transaction has committed (wakes subscribers).</summary>
    internal void Announce(int events)
    {
        PliersTelemetry.EventsAppended.Add(events);
        _signal.Poke();
    }

    public async Task<TimeSpan> GetReaderLagAsync(CancellationToken cancellationToken = default)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = new NpgsqlCommand(_readerLag, connection);
            var seconds = (double)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            return TimeSpan.FromSeconds(seconds);
        }
    }

    private async IAsyncEnumerable<StoredEvent> QueryAsync(string sql, Action<NpgsqlParameterCollection> bind, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = new NpgsqlCommand(sql, connection);
            bind(command.Parameters);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // Rows already buffered are not a reason to go on: a cancelled read yields nothing more.
                cancellationToken.ThrowIfCancellationRequested();
                yield return new StoredEvent(
                    reader.GetGuid(0),
                    reader.GetGuid(1),
                    reader.GetString(2),
                    reader.GetString(3),
                    reader.GetInt32(4),
                    JsonDepth.Read(reader, 5, _maxDepth),
                    reader.IsDBNull(6) ? null : JsonDepth.Read(reader, 6, _maxDepth),
                    reader.IsDBNull(7) ? null : reader.GetGuid(7),
                    reader.IsDBNull(8) ? null : reader.GetGuid(8),
                    reader.GetFieldValue<DateTimeOffset>(9),
                    reader.GetInt64(10),
                    reader.GetFieldValue<ulong>(11));
            }
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
