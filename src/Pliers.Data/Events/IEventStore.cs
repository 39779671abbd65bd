namespace Pliers.Data.Events;

/// <summary>
/// The append-only event store: streams with optimistic concurrency, idempotent batched appends in one
/// round trip, and a global order that readers follow without ever missing an event.
/// </summary>
public interface IEventStore
{
    /// <summary>Gets the tenant this event store works in: the empty string for the default tenant.</summary>
    string TenantId { get; }

    /// <summary>
    /// Returns this event store for one tenant: every call of the returned instance reads and writes only that tenant's
    /// rows (the library filters on it, new rows carry it, and with <see cref="PliersDataOptions.MultiTenant"/>
    /// row-level security enforces it for the application role). Cheap: it shares everything with this instance;
    /// take one per call or per request (docs/tenants.md).
    /// </summary>
    /// <param name="tenantId">The tenant: 1 to 100 characters, no leading or trailing white space, no control characters, not <c>*</c>.</param>
    /// <returns>The event store of that tenant.</returns>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant id.</exception>
    IEventStore ForTenant(string tenantId);

    /// <summary>
    /// Appends events to a stream in one round trip and one transaction. Retrying the same append (same event
    /// ids, same expected version) after a lost reply returns the original result.
    /// </summary>
    /// <param name="aggregateId">The stream.</param>
    /// <param name="aggregateType">The aggregate type: non-blank, trimmed, at most 100 characters.</param>
    /// <param name="expectedVersion">The stream version before the append: a number, <see cref="ExpectedVersion.NoStream"/> or <see cref="ExpectedVersion.Any"/>.</param>
    /// <param name="events">One or more events.</param>
    /// <param name="cancellationToken">Cancels the append.</param>
    /// <returns>The new stream version and the events' global positions.</returns>
    /// <exception cref="ArgumentException">The list is empty, a type is blank or too long, or an id repeats.</exception>
    /// <exception cref="PliersValidationException">Data or metadata cannot be stored as jsonb.</exception>
    /// <exception cref="PliersConcurrencyException">The stream is not at <paramref name="expectedVersion"/>; nothing was written.</exception>
    Task<AppendResult> AppendAsync(Guid aggregateId, string aggregateType, ExpectedVersion expectedVersion, IReadOnlyList<NewEvent> events, CancellationToken cancellationToken = default);

    /// <summary>Reads a stream forwards from <paramref name="fromVersion"/>, streaming rows as they arrive.</summary>
    /// <param name="aggregateId">The stream.</param>
    /// <param name="fromVersion">The first version to return (1 = the whole stream).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The events in version order.</returns>
    IAsyncEnumerable<StoredEvent> ReadStreamAsync(Guid aggregateId, long fromVersion = 1, CancellationToken cancellationToken = default);

    /// <summary>Reads a stream backwards from <paramref name="fromVersion"/> (or its end).</summary>
    /// <param name="aggregateId">The stream.</param>
    /// <param name="fromVersion">The last version to return, or <see langword="null"/> for the newest.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The events newest first.</returns>
    IAsyncEnumerable<StoredEvent> ReadStreamBackwardAsync(Guid aggregateId, long? fromVersion = null, CancellationToken cancellationToken = default);

    /// <summary>Gets the current version of a stream; 0 when it does not exist.</summary>
    /// <param name="aggregateId">The stream.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The version.</returns>
    Task<long> GetStreamVersionAsync(Guid aggregateId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads events of all streams after a checkpoint, in <c>(transaction, position)</c> order and only below the
    /// oldest transaction still running, so an event that commits late is never skipped.
    /// </summary>
    /// <param name="after">The checkpoint of the last event handled (<see cref="GlobalPosition.Start"/> for everything).</param>
    /// <param name="maxCount">The most events to return.</param>
    /// <param name="filter">Aggregate or event types to keep, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The events in global order.</returns>
    IAsyncEnumerable<StoredEvent> ReadAllAsync(GlobalPosition after, int maxCount, EventFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Follows all events from a checkpoint: first what is stored, then new events as they commit, woken by
    /// LISTEN/NOTIFY. Runs until cancelled.
    /// </summary>
    /// <param name="after">The checkpoint to resume from.</param>
    /// <param name="filter">Aggregate or event types to keep, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Ends the subscription.</param>
    /// <returns>Every matching event exactly once, in global order.</returns>
    IAsyncEnumerable<StoredEvent> SubscribeAllAsync(GlobalPosition after, EventFilter? filter = null, CancellationToken cancellationToken = default);

    /// <summary>Reads every event of a business flow, in global order.</summary>
    /// <param name="correlationId">The correlation id.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The events.</returns>
    IAsyncEnumerable<StoredEvent> ReadByCorrelationIdAsync(Guid correlationId, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gets the head of the global order: the last event global readers can see now (below the oldest running
    /// transaction), or <see cref="GlobalPosition.Start"/> when there is none. A reader at this checkpoint is caught up.
    /// </summary>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The head position.</returns>
    Task<GlobalPosition> GetHeadPositionAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Gets how far global readers are held back: how long the oldest committed event has been waiting behind the
    /// read horizon (a transaction that started before it and is still running, or prepared, anywhere in the
    /// cluster). Lag, never loss. Computed from the events table alone, so any role that can read events gets the
    /// right figure.
    /// </summary>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The age of the oldest committed event global readers cannot see yet, or zero.</returns>
    Task<TimeSpan> GetReaderLagAsync(CancellationToken cancellationToken = default);
}
