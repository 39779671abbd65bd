using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Microsoft.Extensions.Logging;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Internal;

namespace Pliers.Data.Subscriptions;

/// <summary>
/// One running member of a durable named subscription. It keeps a heartbeat (its own lease and those of its
/// partitions, every third of <see cref="SubscriptionOptions.LeaseDuration"/>), takes its fair share of the partitions
/// (free ones, or ones whose owner's lease ran out) and lets go of what is above it, and hands the events of its
/// partitions to the handler in global order. A checkpoint is stored only by the owner whose lease still runs
/// (fenced in the UPDATE), so a member that lost a partition can never move it back. Events are handled only while
/// the member's own view of its lease (measured from before the renewal was sent) still runs.
/// </summary>
internal sealed class SubscriptionMember
{
    /// <summary>Members running in this process, for the lag gauge.</summary>
    internal static readonly ConcurrentDictionary<SubscriptionMember, byte> Running = new();

    private readonly string _name;
    private readonly SubscriptionOptions _options;
    private readonly PliersDatabase _database;
    private readonly PostgresEventStore _store;
    private readonly SubscriptionsTable _table;
    private readonly Func<(ISubscriptionHandler Handler, IAsyncDisposable Scope)> _handlers;
    private readonly ILogger _logger;
    private readonly Dictionary<int, GlobalPosition> _owned = [];
    private readonly HashSet<int> _dirty = [];
    private int _partitions;
    private long _leaseDeadline;
    private long _nextBeat;
    private bool _stopped;
    private bool _replays;
    private bool _caughtUp;
    private volatile bool _abandon;

    public SubscriptionMember(string name, SubscriptionOptions options, PliersDatabase database, PostgresEventStore store, Func<(ISubscriptionHandler, IAsyncDisposable)> handlers, ILogger logger)
    {
        _name = name;
        _options = options;
        _database = database;
        _store = store;
        _table = new SubscriptionsTable(database);
        _handlers = handlers;
        _logger = logger;
        Member = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
    }

    /// <summary>Gets this member's id as stored in the lease columns.</summary>
    public string Member { get; }

    /// <summary>Gets the subscription's name.</summary>
    public string Name => _name;

    /// <summary>Gets the age of the last event handled while not caught up (commit to handler), in seconds; 0 when caught up.</summary>
    public double LagSeconds { get; private set; }

    /// <summary>Gets the partitions this member holds now (for tests and diagnostics).</summary>
    internal int[] Owned
    {
        get
        {
            lock (_owned)
            {
                return [.. _owned.Keys.Order()];
            }
        }
    }

    /// <summary>Ends the member as a crash would: no checkpoint stored, no lease given back (tests of member death).</summary>
    internal void Abandon() => _abandon = true;

    private TimeSpan Tick => _options.LeaseDuration / 3;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        Running[this] = 0;
        try
        {
            await RunCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Running.TryRemove(this, out _);
            if (!_abandon)
            {
                await LeaveAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RunCoreAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        var registered = false;
        while (!cancellationToken.IsCancellationRequested && !_abandon)
        {
            try
            {
                if (!registered)
                {
                    await RegisterAsync(cancellationToken).ConfigureAwait(false);
                    registered = true;
                }

                if (Stopwatch.GetTimestamp() >= _nextBeat)
                {
                    await BeatAsync(cancellationToken).ConfigureAwait(false);
                }

                var untilBeat = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), _nextBeat);
                if (_stopped || _owned.Count == 0)
                {
                    await Task.Delay(untilBeat > TimeSpan.Zero ? untilBeat : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                // Taken before reading: an append announced while we read wakes the next round at once.
                var woken = _store.NextAnnouncement;
                if (_replays)
                {
                    await ReplayAsync(cancellationToken).ConfigureAwait(false);
                }

                var more = await RoundAsync(cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromMilliseconds(100);
                if (!more && !(woken?.IsCompleted ?? false))
                {
                    var wait = untilBeat < TimeSpan.FromSeconds(1) ? untilBeat : TimeSpan.FromSeconds(1);
                    var delay = Task.Delay(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, cancellationToken);
                    await (woken is null ? delay : Task.WhenAny(woken, delay)).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not PliersSubscriptionConfigurationException)
            {
                // A lost connection, a restart, a failover (or anything else the database refused): keep what is in
                // memory (handled but not stored is handled again at worst), and try again with backoff. Leases that
                // ran out meanwhile are found by the next beat.
                PliersLog.SubscriptionRetrying(_logger, _name, (long)backoff.TotalMilliseconds, e);
                await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
                _nextBeat = 0;
            }
        }
    }

    private async Task RegisterAsync(CancellationToken cancellationToken)
    {
        var start = _options.StartFrom;
        var position = start.Kind switch
        {
            1 => await _store.GetHeadPositionAsync(cancellationToken).ConfigureAwait(false),
            2 => start.Position,
            _ => GlobalPosition.Start,
        };
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var grid = await connection.QueryMultipleAsync(new CommandDefinition(
                _table.Register,
                new { schema = _database.Schema, name = _name, partitions = _options.Partitions, transaction_id = position.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture), position = position.Position },
                cancellationToken: cancellationToken)).ConfigureAwait(false);
            await using (grid.ConfigureAwait(false))
            {
                await grid.ReadAsync<object>().ConfigureAwait(false); // the lock
                _partitions = await grid.ReadSingleAsync<int>().ConfigureAwait(false);
            }
        }

        if (_partitions != _options.Partitions)
        {
            throw new PliersSubscriptionConfigurationException(
                $"Subscription '{_name}' is stored with {_partitions} partition(s), but this host configures {_options.Partitions}. " +
                "The partition count is fixed when a subscription is first registered; use the stored count, or register the subscription under a new name.");
        }

        PliersLog.SubscriptionStarted(_logger, _name, Member, _partitions);
    }

    /// <summary>Renews this member's leases, learns the live members and the stop flag, and rebalances.</summary>
    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        var sent = Stopwatch.GetTimestamp();
        _nextBeat = sent + (long)(Tick.TotalSeconds * Stopwatch.Frequency);
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var lease = _options.LeaseDuration;
            ClaimRow[] leases;
            HeartbeatRow state;
            var grid = await connection.QueryMultipleAsync(new CommandDefinition(_table.Heartbeat, new { name = _name, member = Member, lease }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            await using (grid.ConfigureAwait(false))
            {
                leases = [.. await grid.ReadAsync<ClaimRow>().ConfigureAwait(false)];
                state = await grid.ReadSingleAsync<HeartbeatRow>().ConfigureAwait(false);
            }

            _leaseDeadline = sent + (long)(lease.TotalSeconds * Stopwatch.Frequency);
            var renewed = leases.Select(l => l.Partition).ToHashSet();

            // Partitions the database says are this member's, but which it let go of locally (its lease view ran out,
            // or a checkpoint write was refused while nobody else had claimed them): adopted again, from the stored
            // checkpoint. Without this they would stay leased to this member and never be handled.
            var adopted = leases.Where(l => !_owned.ContainsKey(l.Partition)).ToArray();
            if (adopted.Length > 0)
            {
                lock (_owned)
                {
                    foreach (var l in adopted)
                    {
                        _owned[l.Partition] = new GlobalPosition(l.TransactionId, l.Position);
                    }
                }

                _caughtUp = false;
                PliersLog.PartitionsClaimed(_logger, _name, Member, string.Join(",", adopted.Select(l => l.Partition).Order()));
            }

            var lost = _owned.Keys.Where(p => !renewed.Contains(p)).ToArray();
            if (lost.Length > 0)
            {
                Drop(lost);
                PliersLog.PartitionsLost(_logger, _name, Member, string.Join(",", lost));
            }

            if (state.Stopped && !_stopped)
            {
                PliersLog.SubscriptionStopped(_logger, _name, state.StopError ?? "stopped");
            }

            _stopped = state.Stopped;
            _replays = state.Replays;
            var target = (_partitions + Math.Max(1, state.Members) - 1) / Math.Max(1, state.Members);
            if (_owned.Count > target)
            {
                await FlushAsync(connection, cancellationToken).ConfigureAwait(false);
                var extra = _owned.Keys.Order().Skip(target).ToArray();
                await connection.ExecuteAsync(new CommandDefinition(_table.Release, new { name = _name, member = Member, partitions = extra }, cancellationToken: cancellationToken)).ConfigureAwait(false);
                Drop(extra);
                PliersLog.PartitionsReleased(_logger, _name, Member, string.Join(",", extra));
            }
            else if (_owned.Count < target && !_stopped)
            {
                var claimed = (await connection.QueryAsync<ClaimRow>(new CommandDefinition(
                    _table.Claim,
                    new { name = _name, member = Member, lease, count = target - _owned.Count },
                    cancellationToken: cancellationToken)).ConfigureAwait(false)).ToArray();
                if (claimed.Length > 0)
                {
                    lock (_owned)
                    {
                        foreach (var c in claimed)
                        {
                            _owned[c.Partition] = new GlobalPosition(c.TransactionId, c.Position);
                        }
                    }

                    _caughtUp = false;
                    PliersLog.PartitionsClaimed(_logger, _name, Member, string.Join(",", claimed.Select(c => c.Partition).Order()));
                }
            }
        }
    }

    private void Drop(IEnumerable<int> partitions)
    {
        lock (_owned)
        {
            foreach (var p in partitions)
            {
                _owned.Remove(p);
                _dirty.Remove(p);
            }
        }
    }

    private bool LeaseRuns => Stopwatch.GetTimestamp() < _leaseDeadline;

    /// <summary>Reads one batch for the owned partitions and handles it; returns whether a full batch was read.</summary>
    private async Task<bool> RoundAsync(CancellationToken cancellationToken)
    {
        if (!LeaseRuns)
        {
            // The heartbeat has not renewed the leases in time (a stalled process, a slow database): another member
            // may own these partitions by now. Handle nothing until the next beat says what is still ours.
            Drop(_owned.Keys.ToArray());
            return false;
        }

        var head = await _store.GetHeadPositionAsync(cancellationToken).ConfigureAwait(false);
        var owned = _owned.Keys.Order().ToArray();
        var from = _owned.Values.Min();
        var (sql, parameters) = _table.Read(from, _partitions, owned, _options.Filter, _options.BatchSize);
        List<SubscriptionEventRow> rows;
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            rows = (await connection.QueryAsync<SubscriptionEventRow>(_database.AllTenants.Command(sql, parameters, cancellationToken)).ConfigureAwait(false)).AsList();
        }

        var whole = true; // every row handled (no stop, no lease end, no heartbeat in between)
        if (rows.Count > 0)
        {
            var (handler, scope) = _handlers();
            await using (scope.ConfigureAwait(false))
            {
                foreach (var row in rows)
                {
                    if (!_owned.TryGetValue(row.Partition, out var checkpoint) || checkpoint >= row.GlobalPosition)
                    {
                        continue; // another partition's, or behind this partition's checkpoint
                    }

                    if (Stopwatch.GetTimestamp() >= _nextBeat)
                    {
                        // A long batch (slow handlers): store what is handled and renew the leases before they run out,
                        // or the member would lose its partitions and hand the same events out again and again.
                        await FlushAsync(cancellationToken).ConfigureAwait(false);
                        await BeatAsync(cancellationToken).ConfigureAwait(false);
                        whole = false;
                        if (!_owned.TryGetValue(row.Partition, out checkpoint) || checkpoint >= row.GlobalPosition)
                        {
                            continue; // released or lost at this beat
                        }
                    }

                    if (_stopped || !LeaseRuns || cancellationToken.IsCancellationRequested)
                    {
                        whole = false;
                        break;
                    }

                    var e = row.ToEvent(_database.MaxDocumentDepth);
                    await DeliverAsync(handler, e, row.Partition, null, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (whole && rows.Count > 0 && !_stopped)
        {
            // The read returned every event of these partitions up to its last row: each partition has passed that row,
            // whether or not it had events in the batch. Without this, a partition with no events among the first rows
            // keeps the oldest checkpoint where it is, and the next read returns the same rows again, for ever.
            var last = rows[^1].GlobalPosition;
            foreach (var p in owned)
            {
                if (_owned.TryGetValue(p, out var c) && c < last)
                {
                    lock (_owned)
                    {
                        _owned[p] = last;
                        _dirty.Add(p);
                    }
                }
            }
        }

        var complete = rows.Count < _options.BatchSize && !_stopped && LeaseRuns;
        if (complete)
        {
            // Everything below the head that belongs to these partitions was in this read: the checkpoints may pass
            // over what the filter or the partitioning left out, so an idle subscription is not "behind".
            foreach (var p in owned)
            {
                if (_owned.TryGetValue(p, out var c) && c < head)
                {
                    lock (_owned)
                    {
                        _owned[p] = head;
                        _dirty.Add(p);
                    }
                }
            }

            LagSeconds = 0;
            if (!_caughtUp)
            {
                _caughtUp = true;
                PliersLog.SubscriptionCaughtUp(_logger, _name, Member, head.ToString());
            }
        }
        else
        {
            _caughtUp = false;
        }

        await FlushAsync(cancellationToken).ConfigureAwait(false);
        return rows.Count == _options.BatchSize;
    }

    /// <summary>
    /// Hands one event to the handler with retries; after the last attempt, parks it or stops the subscription.
    /// Transient database errors are not the handler's fault and go to the caller (the round is tried again).
    /// </summary>
    private async Task DeliverAsync(ISubscriptionHandler handler, StoredEvent e, int partition, long? parkedId, CancellationToken cancellationToken)
    {
        Exception? failure = null;
        var attempts = 0;
        for (var attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            attempts = attempt;
            try
            {
                if (_options.Transactional)
                {
                    if (!await HandleInTransactionAsync(handler, e, partition, attempt, parkedId, cancellationToken).ConfigureAwait(false))
                    {
                        return; // the partition went to another member: its handling was rolled back
                    }
                }
                else
                {
                    await handler.HandleAsync(e, new SubscriptionContext(_name, partition, attempt, parkedId is not null, null, null), cancellationToken).ConfigureAwait(false);
                    if (parkedId is { } id)
                    {
                        await ExecuteAsync(_table.Unpark, new { id }, cancellationToken).ConfigureAwait(false);
                    }
                    else
                    {
                        Advance(partition, e.GlobalPosition);
                    }
                }

                PliersTelemetry.SubscriptionEvents.Add(1, new KeyValuePair<string, object?>("subscription", _name));
                if (!_caughtUp)
                {
                    LagSeconds = Math.Max(0, (DateTimeOffset.UtcNow - e.CreatedAt).TotalSeconds);
                }

                return;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && !PostgresErrors.IsTransient(ex))
            {
                failure = ex;
                PliersLog.HandlerFailed(_logger, _name, e.Id, e.GlobalPosition.ToString(), attempt, _options.MaxAttempts, ex);
                if (parkedId is null)
                {
                    // A replay failing again is recorded on its parked entry; the partition's new events are not failing.
                    await ExecuteAsync(_table.Failing, new { name = _name, partition, member = Member, error = Describe(ex) }, cancellationToken).ConfigureAwait(false);
                }
                if (attempt < _options.MaxAttempts)
                {
                    var delay = TimeSpan.FromTicks(Math.Min(_options.RetryDelay.Ticks << Math.Min(attempt - 1, 20), TimeSpan.FromSeconds(30).Ticks));
                    await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        var error = Describe(failure!);
        if (parkedId is { } parked)
        {
            await ExecuteAsync(_table.ReplayFailed, new { id = parked, error, attempts }, cancellationToken).ConfigureAwait(false);
            return;
        }

        var park = new
        {
            name = _name,
            partition,
            event_id = e.Id,
            transaction_id = e.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            position = e.Position,
            error,
            attempts,
            member = Member,
        };
        if (_options.OnPoison == PoisonPolicy.Park)
        {
            var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    await connection.ExecuteAsync(new CommandDefinition(_table.Park, park, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                    if (_options.Transactional
                        && await connection.ExecuteAsync(new CommandDefinition(_table.StoreOne, park, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false) == 0)
                    {
                        Drop([partition]);
                        return; // not ours any more: the new owner decides about this event
                    }

                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }
            }

            if (!_options.Transactional)
            {
                Advance(partition, e.GlobalPosition);
            }

            PliersLog.EventParked(_logger, _name, e.Id, e.GlobalPosition.ToString(), attempts, failure!);
            return;
        }

        await ExecuteAsync(_table.Stop, new { name = _name, error = $"event {e.Id} at {e.GlobalPosition}: {error}" }, cancellationToken).ConfigureAwait(false);
        _stopped = true;
        PliersLog.SubscriptionStopped(_logger, _name, $"event {e.Id} at {e.GlobalPosition} failed {attempts} time(s): {error}");
    }

    /// <summary>The handler's writes and the fenced checkpoint (or the replayed entry's removal) in one transaction.</summary>
    private async Task<bool> HandleInTransactionAsync(ISubscriptionHandler handler, StoredEvent e, int partition, int attempt, long? parkedId, CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await handler.HandleAsync(e, new SubscriptionContext(_name, partition, attempt, parkedId is not null, connection, transaction), cancellationToken).ConfigureAwait(false);
                if (parkedId is { } id)
                {
                    await connection.ExecuteAsync(new CommandDefinition(_table.Unpark, new { id }, transaction, cancellationToken: cancellationToken)).ConfigureAwait(false);
                }
                else if (await connection.ExecuteAsync(new CommandDefinition(
                             _table.StoreOne,
                             new { name = _name, partition, member = Member, transaction_id = e.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture), position = e.Position },
                             transaction,
                             cancellationToken: cancellationToken)).ConfigureAwait(false) == 0)
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    Drop([partition]);
                    PliersLog.PartitionsLost(_logger, _name, Member, partition.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    return false;
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (parkedId is null)
        {
            lock (_owned)
            {
                _owned[partition] = e.GlobalPosition; // stored already
            }
        }

        return true;
    }

    private void Advance(int partition, GlobalPosition position)
    {
        lock (_owned)
        {
            if (_owned.ContainsKey(partition))
            {
                _owned[partition] = position;
                _dirty.Add(partition);
            }
        }
    }

    /// <summary>Parked events marked for replay, in global order, before new events.</summary>
    private async Task ReplayAsync(CancellationToken cancellationToken)
    {
        List<ReplayRow> rows;
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            rows = (await connection.QueryAsync<ReplayRow>(_database.AllTenants.Command(_table.ReadReplays, new { name = _name, owned = _owned.Keys.ToArray() }, cancellationToken)).ConfigureAwait(false)).AsList();
        }

        _replays = rows.Count == 100;
        if (rows.Count == 0)
        {
            return;
        }

        var (handler, scope) = _handlers();
        await using (scope.ConfigureAwait(false))
        {
            foreach (var row in rows)
            {
                if (_stopped || !LeaseRuns)
                {
                    return;
                }

                await DeliverAsync(handler, row.ToEvent(_database.MaxDocumentDepth), row.Partition, row.ParkedId, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await FlushAsync(connection, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Stores the checkpoints that moved; partitions whose lease is gone are dropped.</summary>
    private async Task FlushAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        int[] parts;
        GlobalPosition[] positions;
        lock (_owned)
        {
            parts = [.. _dirty.Where(_owned.ContainsKey)];
            positions = [.. parts.Select(p => _owned[p])];
            _dirty.Clear();
        }

        if (parts.Length == 0)
        {
            return;
        }

        var stored = (await connection.QueryAsync<int>(new CommandDefinition(
            _table.Store,
            new
            {
                name = _name,
                member = Member,
                parts,
                transaction_ids = positions.Select(p => p.TransactionId.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
                positions = positions.Select(p => p.Position).ToArray(),
            },
            cancellationToken: cancellationToken)).ConfigureAwait(false)).ToHashSet();
        var lost = parts.Where(p => !stored.Contains(p)).ToArray();
        if (lost.Length > 0)
        {
            Drop(lost);
            PliersLog.PartitionsLost(_logger, _name, Member, string.Join(",", lost));
        }
    }

    private async Task ExecuteAsync(string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    /// <summary>Stores the checkpoints, gives the partitions and the membership back (best effort, bounded).</summary>
    private async Task LeaveAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            var connection = await _database.DataSource.OpenConnectionAsync(timeout.Token).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                await FlushAsync(connection, timeout.Token).ConfigureAwait(false);
                await connection.ExecuteAsync(new CommandDefinition(_table.Release, new { name = _name, member = Member, partitions = _owned.Keys.ToArray() }, cancellationToken: timeout.Token)).ConfigureAwait(false);
                await connection.ExecuteAsync(new CommandDefinition(_table.LeaveMember, new { name = _name, member = Member }, cancellationToken: timeout.Token)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException or ObjectDisposedException)
        {
            // The leases run out by themselves; another member takes over after them.
        }

        Drop(_owned.Keys.ToArray());
    }

    private static string Describe(Exception e) => e.GetType().FullName + ": " + e.Message;
}

/// <summary>A subscription whose configuration contradicts what is stored: the member ends instead of retrying.</summary>
internal sealed class PliersSubscriptionConfigurationException(string message) : PliersDataException(message);
