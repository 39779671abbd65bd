using System.Data;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Internal;

namespace Pliers.Data.Events;

/// <summary>
/// The one home of the <c>events</c> table: its name, its column list and every statement the library runs against
/// it. The DDL lives only in the migrations.
/// </summary>
internal sealed class EventsTable
{
    /// <summary>The columns of a stored event, aliased to the names of <see cref="EventRow"/>.</summary>
    private const string Select =
        "id as Id, aggregate_id as AggregateId, aggregate_type as AggregateType, event_type as EventType, event_version as EventVersion, " +
        "event_data as Data, metadata as Metadata, correlation_id as CorrelationId, causation_id as CausationId, created_at as CreatedAt, " +
        "position as Position, transaction_id as TransactionId, tenant_id as TenantId";

    public EventsTable(PliersDatabase database)
    {
        var t = Name = database.QuotedSchema + ".events";
        var tenant = Tenant = $"tenant_id = {database.CurrentTenant}";

        // One statement: the version and aggregate-type check and the insert of the whole batch. The stream's head
        // (its last event) is one backward step on the (aggregate_id, event_version) index. When the stream is not
        // at the expected version, or belongs to another aggregate type, no row is inserted and no identity value is
        // taken; a concurrent writer that slips in between is stopped by the unique key on (aggregate_id, event_version).
        // Four shapes of that statement: a batch (unnest of six arrays) or one event (plain parameters: most appends
        // carry one event, and encoding and unnesting one-element arrays cost measurably more on both sides than the
        // insert itself, docs/performance.md), at an expected version or after whatever the stream holds.
        // A stream is its first writer's tenant's: another tenant sees no head, so its append of version 1 hits the unique key.
        var head = $"with head as (select event_version, aggregate_type from {t} where aggregate_id = @aggregate_id and {tenant} order by event_version desc limit 1)";
        var insert = $"insert into {t} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id, metadata)";
        const string SameType = "coalesce((select aggregate_type from head), @aggregate_type) = @aggregate_type";
        const string AtExpected = "coalesce((select event_version from head), 0) = @expected and " + SameType;
        const string Current = "coalesce((select event_version from head), 0)";
        string Batch(string version, string check) => $"""
            {head}
            {insert}
            select e.id, @aggregate_id, @aggregate_type, e.event_type, e.event_data, {version} + e.ord, e.correlation_id, e.causation_id, e.metadata
            from unnest(@ids, @types, @data::jsonb[], @correlations, @causations, @metadata::jsonb[])
                with ordinality as e(id, event_type, event_data, correlation_id, causation_id, metadata, ord)
            where {check}
            order by e.ord
            returning position, transaction_id, event_version
            """;
        string One(string version, string check) => $"""
            {head}
            {insert}
            select @id, @aggregate_id, @aggregate_type, @event_type, @event_data::jsonb, {version} + 1, @correlation_id, @causation_id, @metadata::jsonb
            where {check}
            returning position, transaction_id, event_version
            """;
        Append = new(Batch("@expected", AtExpected));
        AppendAny = new(Batch(Current, SameType));
        AppendOne = new(One("@expected", AtExpected));
        AppendOneAny = new(One(Current, SameType));
        // Bulk import: one event (the same data) as version 1 of each new stream, in the arrays' order.
        InsertFirstEvents = $"""
            {insert}
            select e.id, e.aggregate_id, @aggregate_type, @event_type, @event_data::jsonb, 1, @correlation_id, @causation_id, @metadata::jsonb
            from unnest(@event_ids::uuid[], @aggregate_ids::uuid[]) with ordinality as e(id, aggregate_id, ord)
            order by e.ord
            """;
        FindByIds = $"select id as Id, aggregate_id as AggregateId, event_version as EventVersion, position as Position, transaction_id as TransactionId from {t} where id = any(@ids) and {tenant}";
        StreamHead = $"select event_version as Version, aggregate_type as AggregateType from {t} where aggregate_id = @aggregate_id and {tenant} order by event_version desc limit 1";
        StreamVersion = $"select coalesce(max(event_version), 0)::bigint from {t} where aggregate_id = @aggregate_id and {tenant}";
        ReadStream = new($"select {Select} from {t} where aggregate_id = @aggregate_id and event_version >= @version and {tenant} order by event_version");
        ReadStreamBackward = new($"select {Select} from {t} where aggregate_id = @aggregate_id and event_version <= @version and {tenant} order by event_version desc");
        ReadByCorrelation = $"select {Select} from {t} where correlation_id = @correlation_id and {tenant} order by transaction_id, position";

        // Only transactions older than the oldest one still running are complete: below that horizon no event can
        // still appear, so reading (transaction_id, position) in order never skips one.
        ReadAllHead = $"""
            select {Select} from {t}
            where (transaction_id, position) > (@transaction_id, @position)
              and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
              and {tenant}
            """;
        // A named tenant's events have an index of their own (partial: a single-tenant host's events are not in it);
        // the literal condition lets the planner use it. The tenant as a parameter too: under the events' read policy
        // (own tenant or '*') PostgreSQL will not use a condition that calls current_setting() (not leakproof) as an
        // index condition, but it will use a plain comparison with a parameter.
        ReadAllHeadNamed = ReadAllHead + $" and tenant_id = @{TenantScope.ParameterName} and tenant_id <> ''";
        Head = $"""
            select transaction_id as TransactionId, position as Position from {t}
            where transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            order by transaction_id desc, position desc limit 1
            """;
        RestoreCheck = $"select coalesce(max(transaction_id) >= pg_snapshot_xmax(pg_current_snapshot()), false) from {t}";

        // Lag as readers see it, from data every role with SELECT on the events can read: how long the oldest
        // committed event has been waiting behind the read horizon (an older transaction still running, prepared
        // transactions included, anywhere in the cluster). Zero when global readers can see everything committed.
        ReaderLag = $"""
            select coalesce(extract(epoch from clock_timestamp() - min(created_at)), 0)::float8
            from {t}
            where transaction_id >= pg_snapshot_xmin(pg_current_snapshot())
            """;
    }

    /// <summary>Gets the quoted, schema-qualified table name.</summary>
    public string Name { get; }

    /// <summary>Appends a batch at an expected stream version.</summary>
    public PositionalStatement Append { get; }

    /// <summary>Appends a batch after whatever the stream holds.</summary>
    public PositionalStatement AppendAny { get; }

    /// <summary>Appends one event at an expected stream version.</summary>
    public PositionalStatement AppendOne { get; }

    /// <summary>Appends one event after whatever the stream holds.</summary>
    public PositionalStatement AppendOneAny { get; }

    /// <summary>The same first event for many new streams (bulk import).</summary>
    public string InsertFirstEvents { get; }

    public string FindByIds { get; }

    public string StreamHead { get; }

    public string StreamVersion { get; }

    public PositionalStatement ReadStream { get; }

    public PositionalStatement ReadStreamBackward { get; }

    public string ReadByCorrelation { get; }

    public string ReadAllHead { get; }

    /// <summary><see cref="ReadAllHead"/> for a named tenant (its partial index).</summary>
    public string ReadAllHeadNamed { get; }

    /// <summary>The library's tenant condition on this table (<c>tenant_id = current_tenant()</c>).</summary>
    public string Tenant { get; }

    /// <summary>The last event global readers can see (one backward step on the global-order index).</summary>
    public string Head { get; }

    public string RestoreCheck { get; }

    public string ReaderLag { get; }

    /// <summary>The global read with its optional filters and limit, and its parameters.</summary>
    public (string Sql, DynamicParameters Parameters) ReadAll(GlobalPosition after, int maxCount, EventFilter? filter, bool namedTenant)
    {
        var parameters = new DynamicParameters(new { position = after.Position, max = maxCount });
        parameters.AddDynamicParams(new { transaction_id = new Xid8(after.TransactionId) });
        return ((namedTenant ? ReadAllHeadNamed : ReadAllHead) + FilterClause(filter, parameters, string.Empty) + " order by transaction_id, position limit @max", parameters);
    }

    /// <summary>The <c>and ...</c> conditions of an <see cref="EventFilter"/> on the events table (aliased by <paramref name="alias"/>), their parameters added.</summary>
    public static string FilterClause(EventFilter? filter, DynamicParameters parameters, string alias)
    {
        var sql = string.Empty;
        if (filter?.AggregateTypes is { Count: > 0 } aggregateTypes)
        {
            sql += $" and {alias}aggregate_type = any(@aggregate_types)";
            parameters.Add("aggregate_types", aggregateTypes.ToArray());
        }

        if (filter?.EventTypes is { Count: > 0 } eventTypes)
        {
            sql += $" and {alias}event_type = any(@event_types)";
            parameters.Add("event_types", eventTypes.ToArray());
        }

        return sql;
    }

    /// <summary>
    /// The insert of one library event inside another table's write statement (a CTE of it): one event per row of
    /// <paramref name="source"/>, for the aggregate in its <c>id</c> column, with the data and stream version the
    /// SQL expressions give. Its parameters come from <c>AddEventParameters</c>.
    /// </summary>
    public string InsertOneFrom(string source, string dataExpression, string versionExpression) => $"""
        insert into {Name} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id)
        select @event_id, {source}.id, @aggregate_type, @event_type, {dataExpression}, {versionExpression}, @correlation_id, @causation_id
        from {source}
        """;

    /// <summary>
    /// The version the next event of stream <c>@id</c> gets (a sub-query for <see cref="InsertOneFrom"/>). No tenant
    /// condition: the stream is a row's the same statement found in its tenant, and a library stream never changes
    /// tenant; without one the look-up can stay on the index (no heap visit to read <c>tenant_id</c>).
    /// </summary>
    public string NextVersionOfId => $"coalesce((select event_version from {Name} where aggregate_id = @id order by event_version desc limit 1), 0) + 1";

    /// <summary>Binds the parameters of <see cref="InsertOneFrom"/> in a prepared single-statement write: a new event id, the types and the context's ids.</summary>
    public static void AddEventParameters(PositionalStatement.Parameters parameters, string aggregateType, string eventType, EventContext? context)
    {
        parameters.Add("event_id", NpgsqlDbType.Uuid, Guid.CreateVersion7());
        parameters.Add("aggregate_type", NpgsqlDbType.Text, aggregateType);
        parameters.Add("event_type", NpgsqlDbType.Text, eventType);
        parameters.Add("correlation_id", NpgsqlDbType.Uuid, context?.CorrelationId);
        parameters.Add("causation_id", NpgsqlDbType.Uuid, context?.CausationId);
    }

    /// <summary>Adds the parameters of <see cref="InsertOneFrom"/>: a new event id, the types and the context's ids.</summary>
    public static DynamicParameters AddEventParameters(DynamicParameters parameters, string aggregateType, string eventType, EventContext? context)
    {
        parameters.Add("event_id", Guid.CreateVersion7());
        parameters.Add("aggregate_type", aggregateType);
        parameters.Add("event_type", eventType);
        parameters.Add("correlation_id", context?.CorrelationId, DbType.Guid);
        parameters.Add("causation_id", context?.CausationId, DbType.Guid);
        return parameters;
    }

    /// <summary>The parameters of <see cref="Append"/> / <see cref="AppendAny"/> for Dapper.</summary>
    public static object AppendParameters(Guid aggregateId, AppendBatch batch) => new
    {
        aggregate_id = aggregateId,
        aggregate_type = batch.AggregateType,
        ids = batch.Ids,
        types = batch.Types,
        data = batch.Data,
        correlations = batch.Correlations,
        causations = batch.Causations,
        metadata = batch.Metadata,
    };
}

/// <summary>A stored event as the <see cref="EventsTable"/> reads it; columns are matched by name.</summary>
internal sealed record EventRow(
    Guid Id,
    Guid AggregateId,
    string AggregateType,
    string EventType,
    int EventVersion,
    string Data,
    string? Metadata,
    Guid? CorrelationId,
    Guid? CausationId,
    DateTime CreatedAt,
    long Position,
    ulong TransactionId,
    string TenantId)
{
    public StoredEvent ToEvent(int maxDepth) => new(
        Id,
        AggregateId,
        AggregateType,
        EventType,
        EventVersion,
        JsonDepth.Parse(Data, maxDepth),
        Metadata is null ? null : JsonDepth.Parse(Metadata, maxDepth),
        CorrelationId,
        CausationId,
        new DateTimeOffset(DateTime.SpecifyKind(CreatedAt, DateTimeKind.Utc)),
        Position,
        TransactionId) { TenantId = TenantId };
}

/// <summary>The head of the global order.</summary>
internal sealed record HeadRow(ulong TransactionId, long Position);

/// <summary>An event found by id when an append is refused (idempotency check).</summary>
internal sealed record StoredIdRow(Guid Id, Guid AggregateId, int EventVersion, long Position, ulong TransactionId);

/// <summary>The last event of a stream: its version and the stream's aggregate type.</summary>
internal sealed record StreamHeadRow(int Version, string AggregateType);

/// <summary>A <c>xid8</c> parameter for Dapper (Npgsql cannot infer it from <see cref="ulong"/>).</summary>
internal sealed class Xid8(ulong value) : SqlMapper.ICustomQueryParameter
{
    public void AddParameter(IDbCommand command, string name) =>
        command.Parameters.Add(new NpgsqlParameter<ulong>(name, NpgsqlDbType.Xid8) { TypedValue = value });
}
