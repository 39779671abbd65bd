using Npgsql;
using Pliers.Data.Events;

namespace Pliers.Data.Subscriptions;

/// <summary>
/// Handles the events of a durable named subscription (registered with
/// <c>AddPliersSubscription&lt;THandler&gt;</c>). Resolved from a scope per batch of events.
/// </summary>
public interface ISubscriptionHandler
{
    /// <summary>
    /// Handles one event. Throwing retries the event with backoff, then stops the subscription or parks the event,
    /// as <see cref="SubscriptionOptions.OnPoison"/> says. In a transactional subscription, write through
    /// <see cref="SubscriptionContext.Connection"/> and <see cref="SubscriptionContext.Transaction"/>: those writes
    /// and the checkpoint commit together.
    /// </summary>
    /// <param name="event">The event.</param>
    /// <param name="context">The subscription, the attempt and (when transactional) the open transaction.</param>
    /// <param name="cancellationToken">Signals that the host is stopping.</param>
    /// <returns>A task that completes when the event is handled.</returns>
    Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken);
}

/// <summary>What a handler knows about the delivery of one event.</summary>
public sealed class SubscriptionContext
{
    internal SubscriptionContext(string name, int partition, int attempt, bool replay, NpgsqlConnection? connection, NpgsqlTransaction? transaction)
    {
        Name = name;
        Partition = partition;
        Attempt = attempt;
        IsReplay = replay;
        Connection = connection;
        Transaction = transaction;
    }

    /// <summary>Gets the subscription's name.</summary>
    public string Name { get; }

    /// <summary>Gets the partition of the event's stream (0 when the subscription has one partition).</summary>
    public int Partition { get; }

    /// <summary>Gets the attempt: 1 for the first delivery, more after failures.</summary>
    public int Attempt { get; }

    /// <summary>Gets a value indicating whether the event is a parked event being replayed.</summary>
    public bool IsReplay { get; }

    /// <summary>Gets the open connection of a transactional subscription, or <see langword="null"/>.</summary>
    public NpgsqlConnection? Connection { get; }

    /// <summary>Gets the transaction the checkpoint commits in (transactional subscriptions), or <see langword="null"/>.</summary>
    public NpgsqlTransaction? Transaction { get; }
}

/// <summary>Where a subscription starts the first time it runs (later runs continue from their checkpoint).</summary>
public readonly record struct SubscriptionStart
{
    private SubscriptionStart(int kind, GlobalPosition position)
    {
        Kind = kind;
        Position = position;
    }

    /// <summary>Gets the start before every event.</summary>
    public static SubscriptionStart Beginning { get; } = new(0, GlobalPosition.Start);

    /// <summary>Gets the start after the last event global readers can see when the subscription is first registered.</summary>
    public static SubscriptionStart Now { get; } = new(1, GlobalPosition.Start);

    /// <summary>Starts after <paramref name="position"/>.</summary>
    /// <param name="position">The last event not to handle.</param>
    /// <returns>The start.</returns>
    public static SubscriptionStart After(GlobalPosition position) => new(2, position);

    internal int Kind { get; }

    internal GlobalPosition Position { get; }

    /// <summary>Reads <c>start</c>, <c>now</c> or a position <c>transaction:position</c>.</summary>
    /// <param name="text">The text form.</param>
    /// <returns>The start.</returns>
    /// <exception cref="FormatException">The text is none of these.</exception>
    public static SubscriptionStart Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text switch
        {
            "start" or "beginning" => Beginning,
            "now" => Now,
            _ => After(GlobalPosition.Parse(text)),
        };
    }

    /// <inheritdoc />
    public override string ToString() => Kind switch { 0 => "start", 1 => "now", _ => Position.ToString() };
}

/// <summary>What a subscription does with an event its handler keeps failing on.</summary>
public enum PoisonPolicy
{
    /// <summary>Stop the subscription (every member) with the error; resume it after the fix.</summary>
    Stop,

    /// <summary>Park the event with the error in the dead-letter table and move on.</summary>
    Park,
}

/// <summary>How a durable named subscription runs.</summary>
public sealed class SubscriptionOptions
{
    /// <summary>Gets or sets where the subscription starts the first time it runs. The default is <see cref="SubscriptionStart.Beginning"/>.</summary>
    public SubscriptionStart StartFrom { get; set; } = SubscriptionStart.Beginning;

    /// <summary>Gets or sets the aggregate or event types to handle, or <see langword="null"/> for all.</summary>
    public EventFilter? Filter { get; set; }

    /// <summary>
    /// Gets or sets a value indicating whether each event's handling and its checkpoint commit in one transaction
    /// (the handler writes through <see cref="SubscriptionContext.Transaction"/>): effectively exactly-once for
    /// projections kept in the same database. Otherwise the checkpoint is stored after the handler succeeded
    /// (at-least-once), per batch.
    /// </summary>
    public bool Transactional { get; set; }

    /// <summary>
    /// Gets or sets how many partitions the streams are split into (1–1,024; fixed when the subscription is first
    /// registered). Instances of the subscription share the partitions: each stream belongs to one partition, each
    /// partition to one live member at a time. With 1 (the default) one instance handles everything and the others
    /// stand by.
    /// </summary>
    public int Partitions { get; set; } = 1;

    /// <summary>
    /// Gets or sets how long a member's claim on its partitions lasts without renewal (renewed every third of it).
    /// A member that dies has its partitions taken over after at most this long plus a third. The default is 10 s.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Gets or sets how many times an event is tried before <see cref="OnPoison"/> applies. The default is 5.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Gets or sets the delay after the first failure; it doubles per attempt, up to 30 s. The default is 200 ms.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Gets or sets what happens after <see cref="MaxAttempts"/> failures. The default is <see cref="PoisonPolicy.Stop"/>.</summary>
    public PoisonPolicy OnPoison { get; set; } = PoisonPolicy.Stop;

    /// <summary>Gets or sets how many events are read per round trip. The default is 500.</summary>
    public int BatchSize { get; set; } = 500;
}

/// <summary>A stored subscription as <see cref="ISubscriptionStore.ListAsync"/> reports it.</summary>
/// <param name="Name">The name.</param>
/// <param name="Partitions">Its partitions with their checkpoints and owners.</param>
/// <param name="LiveMembers">Members whose lease has not run out.</param>
/// <param name="StoppedAt">When a poison event stopped it, or <see langword="null"/>.</param>
/// <param name="FailingSince">Since when its handler has been failing (retrying), or <see langword="null"/>.</param>
/// <param name="LastError">The last handler error, or <see langword="null"/>.</param>
/// <param name="Parked">How many events it has parked.</param>
/// <param name="Lag">The age of the oldest event after its checkpoints that global readers can see; zero when caught up.</param>
public sealed record SubscriptionInfo(
    string Name,
    IReadOnlyList<SubscriptionPartitionInfo> Partitions,
    int LiveMembers,
    DateTimeOffset? StoppedAt,
    DateTimeOffset? FailingSince,
    string? LastError,
    long Parked,
    TimeSpan Lag);

/// <summary>One partition of a subscription.</summary>
/// <param name="Partition">The partition number.</param>
/// <param name="Checkpoint">The last event handled (or passed over) in it.</param>
/// <param name="Owner">The member that holds it, or <see langword="null"/>.</param>
/// <param name="LeaseUntil">When the owner's claim runs out, or <see langword="null"/>.</param>
/// <param name="UpdatedAt">When the checkpoint was last stored.</param>
public sealed record SubscriptionPartitionInfo(int Partition, GlobalPosition Checkpoint, string? Owner, DateTimeOffset? LeaseUntil, DateTimeOffset UpdatedAt);

/// <summary>An event a subscription parked after its handler kept failing.</summary>
/// <param name="Id">The parked entry's id (for a replay of one entry).</param>
/// <param name="Subscription">The subscription.</param>
/// <param name="EventId">The event.</param>
/// <param name="Position">The event's global position.</param>
/// <param name="Error">The last error (exception type and message).</param>
/// <param name="Attempts">How many times it was tried.</param>
/// <param name="ParkedAt">When it was parked.</param>
/// <param name="ReplayRequestedAt">When a replay was asked for and is still to run, or <see langword="null"/>.</param>
public sealed record ParkedEvent(long Id, string Subscription, Guid EventId, GlobalPosition Position, string Error, int Attempts, DateTimeOffset ParkedAt, DateTimeOffset? ReplayRequestedAt);

/// <summary>
/// Inspects and operates the durable named subscriptions stored in the database, from any process: list them with
/// their checkpoints and lag, list and replay parked events, reset or resume a subscription, wait until one caught up.
/// </summary>
public interface ISubscriptionStore
{
    /// <summary>Lists every subscription.</summary>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The subscriptions, by name.</returns>
    Task<IReadOnlyList<SubscriptionInfo>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Lists the events a subscription parked, oldest first.</summary>
    /// <param name="name">The subscription.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The parked events.</returns>
    Task<IReadOnlyList<ParkedEvent>> ListParkedAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Asks the running members to hand parked events to the handler again (in global order, before new events):
    /// one that succeeds leaves the table, one that fails again stays parked with the new error.
    /// </summary>
    /// <param name="name">The subscription.</param>
    /// <param name="parkedId">One parked entry, or <see langword="null"/> for all of the subscription's.</param>
    /// <param name="cancellationToken">Cancels the update.</param>
    /// <returns>How many entries were marked for replay.</returns>
    Task<int> ReplayParkedAsync(string name, long? parkedId = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Moves every checkpoint of a subscription (running members let go of their partitions and continue from the
    /// new checkpoint) and clears a stop.
    /// </summary>
    /// <param name="name">The subscription.</param>
    /// <param name="to">The new start: the beginning, now, or after a position.</param>
    /// <param name="cancellationToken">Cancels the update.</param>
    /// <returns>A task that completes when the checkpoints are stored.</returns>
    /// <exception cref="PliersNotFoundException">No subscription has that name.</exception>
    Task ResetAsync(string name, SubscriptionStart to, CancellationToken cancellationToken = default);

    /// <summary>Clears a stop caused by a poison event: the members try the event again.</summary>
    /// <param name="name">The subscription.</param>
    /// <param name="cancellationToken">Cancels the update.</param>
    /// <returns>A task that completes when the stop is cleared.</returns>
    /// <exception cref="PliersNotFoundException">No subscription has that name.</exception>
    Task ResumeAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until every partition of the subscription has handled (or passed over) every event global readers can
    /// see at the time of the call: the "caught up" signal, observable from any process. A subscription that is not
    /// registered yet (its host is starting) is waited for; bound the wait with <paramref name="cancellationToken"/>.
    /// </summary>
    /// <param name="name">The subscription.</param>
    /// <param name="cancellationToken">Ends the wait.</param>
    /// <returns>A task that completes when the subscription caught up.</returns>
    /// <exception cref="PliersDataException">The subscription is stopped by a poison event (the message has the error).</exception>
    Task WaitForCaughtUpAsync(string name, CancellationToken cancellationToken = default);
}

/// <summary>Checks a subscription's name and options once, at registration.</summary>
internal static class SubscriptionOptionsCheck
{
    public static void Check(string name, SubscriptionOptions options)
    {
        if (string.IsNullOrWhiteSpace(name) || char.IsWhiteSpace(name[0]) || char.IsWhiteSpace(name[^1]) || name.Length > 200 || name.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A subscription name is non-blank, has no leading or trailing whitespace and no \\u0000, and is at most 200 characters long.", nameof(name));
        }

        if (options.Partitions is < 1 or > 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.Partitions, "SubscriptionOptions.Partitions must be between 1 and 1024.");
        }

        if (options.LeaseDuration < TimeSpan.FromMilliseconds(300) || options.LeaseDuration > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.LeaseDuration, "SubscriptionOptions.LeaseDuration must be between 300 ms and 1 hour.");
        }

        if (options.MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.MaxAttempts, "SubscriptionOptions.MaxAttempts must be at least 1.");
        }

        if (options.RetryDelay < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.RetryDelay, "SubscriptionOptions.RetryDelay must not be negative.");
        }

        if (options.BatchSize is < 1 or > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(options), options.BatchSize, "SubscriptionOptions.BatchSize must be between 1 and 10,000.");
        }
    }
}
