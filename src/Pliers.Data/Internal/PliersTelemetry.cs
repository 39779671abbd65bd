using System.Diagnostics;
using System.Diagnostics.Metrics;
using Npgsql;

namespace Pliers.Data.Internal;

/// <summary>
/// The library's <see cref="ActivitySource"/> and <see cref="Meter"/>, both named <c>Pliers.Data</c>. Hosts opt in
/// (for example <c>AddSource("Pliers.Data")</c> and <c>AddMeter("Pliers.Data")</c> in OpenTelemetry).
/// </summary>
internal static class PliersTelemetry
{
    public const string Name = "Pliers.Data";

    public static readonly ActivitySource Source = new(Name, typeof(PliersTelemetry).Assembly.GetName().Version?.ToString());

    public static readonly Meter Meter = new(Name, typeof(PliersTelemetry).Assembly.GetName().Version?.ToString());

    /// <summary>Events written by appends and by the repositories' domain events.</summary>
    public static readonly Counter<long> EventsAppended = Meter.CreateCounter<long>("pliers.events.appended", "{event}", "Events appended to the event store.");

    /// <summary>Optimistic-concurrency conflicts raised to callers.</summary>
    public static readonly Counter<long> ConcurrencyConflicts = Meter.CreateCounter<long>("pliers.concurrency.conflicts", "{conflict}", "Writes refused because the stream or row changed since it was read.");

    /// <summary>Submissions or definitions refused by validation.</summary>
    public static readonly Counter<long> ValidationFailures = Meter.CreateCounter<long>("pliers.validation.failures", "{failure}", "Writes refused because the data did not validate.");

    /// <summary>Events handled by durable named subscriptions, tagged with <c>subscription</c>.</summary>
    public static readonly Counter<long> SubscriptionEvents = Meter.CreateCounter<long>("pliers.subscription.events", "{event}", "Events handled by durable named subscriptions.");

    /// <summary>How far each subscription member of this process is behind: the age of the last event it handled while not caught up.</summary>
    public static readonly ObservableGauge<double> SubscriptionLag = Meter.CreateObservableGauge(
        "pliers.subscription.lag",
        () => Pliers.Data.Subscriptions.SubscriptionMember.Running.Keys.Select(m => new Measurement<double>(m.LagSeconds, new KeyValuePair<string, object?>("subscription", m.Name), new KeyValuePair<string, object?>("member", m.Member))),
        "s",
        "Age of the last event a subscription member handled while behind; 0 when caught up.");

    /// <summary>Duration of library operations, tagged with <c>pliers.operation</c>.</summary>
    public static readonly Histogram<double> OperationDuration = Meter.CreateHistogram<double>("pliers.operation.duration", "ms", "Duration of Pliers.Data operations.");

    /// <summary>Starts an activity and a timer for one operation; dispose the scope when it ends.</summary>
    public static OperationScope Start(string operation) => new(operation, Source.StartActivity("pliers " + operation, ActivityKind.Client), Stopwatch.GetTimestamp());

    /// <summary>Runs one operation inside an activity, times it, and counts conflicts and validation failures.</summary>
    public static async Task<T> TraceAsync<T>(string operation, Func<Task<T>> action)
    {
        using var scope = Start(operation);
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.QueryCanceled or PostgresErrorCodes.LockNotAvailable
                                              or PostgresErrorCodes.InvalidTextRepresentation or PostgresErrorCodes.UntranslatableCharacter)
        {
            // Server-side timeouts and jsonb input errors mean the same for every operation: typed here once.
            var timeout = PostgresErrors.Translate(e)!;
            scope.Fail(timeout);
            throw timeout;
        }
        catch (Exception e)
        {
            scope.Fail(e);
            throw;
        }
    }

    public readonly struct OperationScope(string operation, Activity? activity, long started) : IDisposable
    {
        public Activity? Activity => activity;

        public void Fail(Exception exception)
        {
            activity?.SetStatus(ActivityStatusCode.Error, exception.GetType().Name);
            switch (exception)
            {
                case PliersConcurrencyException:
                    ConcurrencyConflicts.Add(1, new KeyValuePair<string, object?>("pliers.operation", operation));
                    break;
                case PliersValidationException:
                    ValidationFailures.Add(1, new KeyValuePair<string, object?>("pliers.operation", operation));
                    break;
            }
        }

        public void Dispose()
        {
            OperationDuration.Record(Stopwatch.GetElapsedTime(started).TotalMilliseconds, new KeyValuePair<string, object?>("pliers.operation", operation));
            activity?.Dispose();
        }
    }
}
