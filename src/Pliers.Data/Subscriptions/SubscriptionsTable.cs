using Dapper;
using Pliers.Data.Events;
using Pliers.Data.Internal;

namespace Pliers.Data.Subscriptions;

/// <summary>
/// The one home of the subscription tables' statements (<c>subscriptions</c>, <c>subscription_members</c>,
/// <c>subscription_parked</c>). The DDL lives in migration 202612051100.
/// </summary>
internal sealed class SubscriptionsTable
{
    /// <summary>The partition of a stream: a hash of its id, the same in every statement.</summary>
    private const string PartitionOf = "abs(hashtextextended(e.aggregate_id::text, 0) % @partitions)::int";

    private const string EventColumns =
        "e.id as Id, e.aggregate_id as AggregateId, e.aggregate_type as AggregateType, e.event_type as EventType, e.event_version as EventVersion, " +
        "e.event_data as Data, e.metadata as Metadata, e.correlation_id as CorrelationId, e.causation_id as CausationId, e.created_at as CreatedAt, " +
        "e.position as Position, e.transaction_id as TransactionId, e.tenant_id as TenantId";

    private readonly string _events;

    public SubscriptionsTable(PliersDatabase database)
    {
        var s = database.QuotedSchema;
        _events = s + ".events";
        var t = s + ".subscriptions";
        var m = s + ".subscription_members";
        var p = s + ".subscription_parked";

        // The first registration of a name writes all its partitions; later ones (whatever they configure) write
        // nothing. Registrations of one name take turns, so two first ones cannot mix their partition counts.
        Register = $"""
            select pg_advisory_xact_lock(hashtextextended('pliers.data/subscription/' || @schema || '/' || @name, 0));
            insert into {t} (name, partition, partitions, transaction_id, position)
            select @name, g, @partitions, @transaction_id::text::xid8, @position from generate_series(0, @partitions - 1) g
            where not exists (select from {t} where name = @name);
            select partitions from {t} where name = @name order by partition limit 1
            """;

        // The member's heartbeat, its leases renewed, the live members counted, the stop flag and pending replays:
        // one round trip, one implicit transaction.
        Heartbeat = $"""
            insert into {m} (name, member, lease_until) values (@name, @member, now() + @lease)
            on conflict (name, member) do update set lease_until = excluded.lease_until;
            delete from {m} where name = @name and lease_until < now() - interval '1 minute';
            update {t} set lease_until = now() + @lease where name = @name and owner = @member
            returning partition as Partition, transaction_id as TransactionId, position as Position;
            select (select count(*)::int from {m} where name = @name and lease_until > now()) as Members,
                   exists (select from {t} where name = @name and stopped_at is not null) as Stopped,
                   (select string_agg(last_error, '; ') from {t} where name = @name and stopped_at is not null) as StopError,
                   exists (select from {p} where name = @name and replay_requested_at is not null) as Replays
            """;
        Claim = $"""
            with free as (
                select partition from {t}
                where name = @name and (owner is null or lease_until < now())
                order by partition limit @count
                for update skip locked)
            update {t} s set owner = @member, lease_until = now() + @lease
            from free where s.name = @name and s.partition = free.partition
            returning s.partition as Partition, s.transaction_id as TransactionId, s.position as Position
            """;
        Release = $"update {t} set owner = null, lease_until = null where name = @name and owner = @member and partition = any(@partitions)";
        LeaveMember = $"delete from {m} where name = @name and member = @member";

        // Fenced: only the owner whose lease still runs may move a checkpoint.
        Store = $"""
            update {t} s set transaction_id = c.transaction_id::xid8, position = c.position, updated_at = now(),
                             failing_since = null, last_error = case when s.stopped_at is null then null else s.last_error end
            from unnest(@parts, @transaction_ids, @positions) as c(partition, transaction_id, position)
            where s.name = @name and s.partition = c.partition and s.owner = @member and s.lease_until > now()
            returning s.partition
            """;
        StoreOne = $"""
            update {t} set transaction_id = @transaction_id::text::xid8, position = @position, updated_at = now(),
                           failing_since = null, last_error = case when stopped_at is null then null else last_error end
            where name = @name and partition = @partition and owner = @member and lease_until > now()
            """;
        Failing = $"update {t} set failing_since = coalesce(failing_since, now()), last_error = @error where name = @name and partition = @partition and owner = @member";
        Stop = $"update {t} set stopped_at = now(), last_error = @error where name = @name";
        Park = $"""
            insert into {p} (name, partition, event_id, transaction_id, position, error, attempts)
            values (@name, @partition, @event_id, @transaction_id::text::xid8, @position, @error, @attempts)
            on conflict (name, event_id) do update
                set error = excluded.error, attempts = {p}.attempts + excluded.attempts, parked_at = now(), replay_requested_at = null
            """;
        ReadReplays = $"""
            select p.id as ParkedId, p.partition as Partition, {EventColumns}
            from {p} p join {_events} e on e.id = p.event_id
            where p.name = @name and p.replay_requested_at is not null and p.partition = any(@owned)
            order by p.transaction_id, p.position limit 100
            """;
        Unpark = $"delete from {p} where id = @id";
        ReplayFailed = $"update {p} set error = @error, attempts = attempts + @attempts, parked_at = now(), replay_requested_at = null where id = @id";

        List = $"""
            select s.name as Name, s.partition as Partition, s.transaction_id as TransactionId, s.position as Position,
                   s.owner as Owner, s.lease_until as LeaseUntil, s.updated_at as UpdatedAt, s.stopped_at as StoppedAt,
                   s.failing_since as FailingSince, s.last_error as LastError,
                   (select count(*)::int from {m} where name = s.name and lease_until > now()) as LiveMembers,
                   (select count(*) from {p} where name = s.name) as Parked,
                   coalesce(extract(epoch from clock_timestamp() - (
                       select e.created_at from {_events} e
                       where (e.transaction_id, e.position) > (s.transaction_id, s.position)
                         and e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
                       order by e.transaction_id, e.position limit 1)), 0)::float8 as LagSeconds
            from {t} s
            where @name::text is null or s.name = @name
            order by s.name, s.partition
            """;
        ListParked = $"""
            select id as Id, name as Subscription, event_id as EventId, transaction_id as TransactionId, position as Position,
                   error as Error, attempts as Attempts, parked_at as ParkedAt, replay_requested_at as ReplayRequestedAt
            from {p} where name = @name order by transaction_id, position
            """;
        RequestReplay = $"update {p} set replay_requested_at = now() where name = @name and (@id::bigint is null or id = @id)";
        Reset = $"""
            update {t} set transaction_id = @transaction_id::text::xid8, position = @position, owner = null, lease_until = null,
                           updated_at = now(), stopped_at = null, failing_since = null, last_error = null
            where name = @name
            """;
        Resume = $"update {t} set stopped_at = null, failing_since = null, last_error = null where name = @name";
        Exists = $"select exists (select from {t} where name = @name)";
    }

    public string Register { get; }

    public string Heartbeat { get; }

    public string Claim { get; }

    public string Release { get; }

    public string LeaveMember { get; }

    public string Store { get; }

    public string StoreOne { get; }

    public string Failing { get; }

    public string Stop { get; }

    public string Park { get; }

    public string ReadReplays { get; }

    public string Unpark { get; }

    public string ReplayFailed { get; }

    public string List { get; }

    public string ListParked { get; }

    public string RequestReplay { get; }

    public string Reset { get; }

    public string Resume { get; }

    public string Exists { get; }

    /// <summary>
    /// The next events for a member: after the oldest checkpoint of its partitions, below the read horizon, only its
    /// partitions (when there are several) and the subscription's filter, with each event's partition.
    /// </summary>
    public (string Sql, DynamicParameters Parameters) Read(GlobalPosition after, int partitions, int[] owned, EventFilter? filter, int max)
    {
        var sql = $"""
            select {EventColumns}, {PartitionOf} as Partition
            from {_events} e
            where (e.transaction_id, e.position) > (@transaction_id, @position)
              and e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            """;
        var parameters = new DynamicParameters(new { position = after.Position, max, partitions });
        parameters.AddDynamicParams(new { transaction_id = new Xid8(after.TransactionId) });
        if (partitions > 1)
        {
            sql += $" and {PartitionOf} = any(@owned)";
            parameters.Add("owned", owned);
        }

        return (sql + EventsTable.FilterClause(filter, parameters, "e.") + " order by e.transaction_id, e.position limit @max", parameters);
    }
}

/// <summary>An event with the partition of its stream, as a subscription reads it.</summary>
internal sealed record SubscriptionEventRow(
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
    string TenantId,
    int Partition)
{
    public GlobalPosition GlobalPosition => new(TransactionId, Position);

    public StoredEvent ToEvent(int maxDepth) =>
        new EventRow(Id, AggregateId, AggregateType, EventType, EventVersion, Data, Metadata, CorrelationId, CausationId, CreatedAt, Position, TransactionId, TenantId).ToEvent(maxDepth);
}

/// <summary>A parked event to replay, with its entry id and partition.</summary>
internal sealed record ReplayRow(
    long ParkedId,
    int Partition,
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
    public StoredEvent ToEvent(int maxDepth) =>
        new EventRow(Id, AggregateId, AggregateType, EventType, EventVersion, Data, Metadata, CorrelationId, CausationId, CreatedAt, Position, TransactionId, TenantId).ToEvent(maxDepth);
}

/// <summary>The heartbeat's summary row.</summary>
internal sealed record HeartbeatRow(int Members, bool Stopped, string? StopError, bool Replays);

/// <summary>A claimed partition with its stored checkpoint.</summary>
internal sealed record ClaimRow(int Partition, ulong TransactionId, long Position);

/// <summary>A row of <see cref="SubscriptionsTable.List"/>.</summary>
internal sealed record ListRow(
    string Name,
    int Partition,
    ulong TransactionId,
    long Position,
    string? Owner,
    DateTime? LeaseUntil,
    DateTime UpdatedAt,
    DateTime? StoppedAt,
    DateTime? FailingSince,
    string? LastError,
    int LiveMembers,
    long Parked,
    double LagSeconds);

/// <summary>A row of <see cref="SubscriptionsTable.ListParked"/>.</summary>
internal sealed record ParkedRow(long Id, string Subscription, Guid EventId, ulong TransactionId, long Position, string Error, int Attempts, DateTime ParkedAt, DateTime? ReplayRequestedAt);
