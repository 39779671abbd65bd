using Microsoft.Extensions.Logging;

namespace Pliers.Data.Internal;

/// <summary>Source-generated log messages. None of them carries a connection string.</summary>
internal static partial class PliersLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Took the Pliers migration lock for schema {Schema} after {WaitedMilliseconds} ms")]
    public static partial void MigrationLockTaken(ILogger logger, string schema, long waitedMilliseconds);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Schema {Schema} migrated from {FromVersion} to {ToVersion}: applied {Applied} in {ElapsedMilliseconds} ms")]
    public static partial void Migrated(ILogger logger, string schema, long fromVersion, long toVersion, string applied, long elapsedMilliseconds);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Warning, Message = "Schema {Schema} rolled back from {FromVersion} to {ToVersion}: reverted {Reverted}")]
    public static partial void RolledBack(ILogger logger, string schema, long fromVersion, long toVersion, string reverted);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Subscription to schema {Schema} lost its connection at {Checkpoint}; reconnecting in {DelayMilliseconds} ms")]
    public static partial void SubscriptionReconnecting(ILogger logger, string schema, string checkpoint, long delayMilliseconds, Exception exception);

    [LoggerMessage(EventId = 2001, Level = LogLevel.Debug, Message = "Append to stream {StreamId} refused: expected version {Expected}, found {Actual}")]
    public static partial void AppendConflict(ILogger logger, Guid streamId, string expected, long actual);
}
