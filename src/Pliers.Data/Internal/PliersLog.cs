using Microsoft.Extensions.Logging;

namespace Pliers.Data.Internal;

/// <summary>Source-generated log messages. None of them carries a connection string.</summary>
internal static partial class PliersLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Took the Pliers migration lock for schema {Schema} after {WaitedMilliseconds} ms")]
    public static partial void MigrationLockTaken(ILogger logger, string schema, long waitedMilliseconds);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Schema {Schema} migrated from {FromVersion} to {ToVersion}: applied {Applied} in {ElapsedMilliseconds} ms")]
    public static partial void Migrated(ILogger logger, string schema, long fromVersion, long toVersion, string applied, long elapsedMilliseconds);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Information, Message = "Schema {Schema}: row-level security switched on for {Table} (multi-tenant host)")]
    public static partial void RowLevelSecurityEnabled(ILogger logger, string schema, string table);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Schema {Schema} rolled back from {FromVersion} to {ToVersion}: reverted {Reverted}")]
    public static partial void RolledBack(ILogger logger, string schema, long fromVersion, long toVersion, string reverted);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Subscription to schema {Schema} lost its connection at {Checkpoint}; reconnecting in {DelayMilliseconds} ms")]
    public static partial void SubscriptionReconnecting(ILogger logger, string schema, string checkpoint, long delayMilliseconds, Exception exception);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Append to stream {StreamId} refused: expected version {Expected}, found {Actual}")]
    public static partial void AppendConflict(ILogger logger, Guid streamId, string expected, long actual);

    [LoggerMessage(EventId = 3001, Level = LogLevel.Information, Message = "Subscription {Name}: member {Member} started ({Partitions} partition(s))")]
    public static partial void SubscriptionStarted(ILogger logger, string name, string member, int partitions);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Information, Message = "Subscription {Name}: member {Member} claimed partition(s) {Partitions}")]
    public static partial void PartitionsClaimed(ILogger logger, string name, string member, string partitions);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Subscription {Name}: member {Member} released partition(s) {Partitions} to other members")]
    public static partial void PartitionsReleased(ILogger logger, string name, string member, string partitions);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning, Message = "Subscription {Name}: member {Member} lost partition(s) {Partitions} (its lease ran out or the subscription was reset)")]
    public static partial void PartitionsLost(ILogger logger, string name, string member, string partitions);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Information, Message = "Subscription {Name}: member {Member} caught up at {Position}")]
    public static partial void SubscriptionCaughtUp(ILogger logger, string name, string member, string position);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning, Message = "Subscription {Name}: handler failed on event {EventId} at {Position} (attempt {Attempt} of {MaxAttempts})")]
    public static partial void HandlerFailed(ILogger logger, string name, Guid eventId, string position, int attempt, int maxAttempts, Exception exception);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Error, Message = "Subscription {Name}: parked event {EventId} at {Position} after {Attempts} failed attempt(s)")]
    public static partial void EventParked(ILogger logger, string name, Guid eventId, string position, int attempts, Exception exception);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Error, Message = "Subscription {Name} is stopped: {Error}. Fix the handler, then resume it (ISubscriptionStore.ResumeAsync or `pliers-data subscriptions resume`)")]
    public static partial void SubscriptionStopped(ILogger logger, string name, string error);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Warning, Message = "Subscription {Name}: database unavailable; trying again in {DelayMilliseconds} ms")]
    public static partial void SubscriptionRetrying(ILogger logger, string name, long delayMilliseconds, Exception exception);
}
