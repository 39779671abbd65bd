using Npgsql;

namespace Pliers.Data.Events;

/// <summary>
/// One LISTEN connection per event store, shared by all its subscriptions (issue 15): started by the first
/// subscription, reconnecting with backoff (100 ms, doubling to 5 s) when its connection is lost, stopped with the
/// store. A subscriber takes <see cref="Next"/> before it reads, so an announcement that arrives while it reads is
/// never missed; subscribers also look again every second, which covers the time without a connection.
/// LISTEN/NOTIFY is raw Npgsql (Dapper has no notion of it).
/// </summary>
internal sealed class EventNotifications(NpgsqlDataSource dataSource, string channel, string schema) : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task? _loop;
    private int _disposed;

    /// <summary>Completes at the next announcement for this schema (or a reconnection) after the call.</summary>
    public Task Next
    {
        get
        {
            lock (_gate)
            {
                _loop ??= Task.Run(() => RunAsync(_stop.Token));
                return _next.Task;
            }
        }
    }

    private void Announce()
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            fired = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        fired.TrySetResult();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                await using (connection.ConfigureAwait(false))
                {
                    connection.Notification += (_, e) =>
                    {
                        if (e.Payload == schema)
                        {
                            Announce();
                        }
                    };
                    await using (var listen = new NpgsqlCommand("listen " + channel, connection))
                    {
                        await listen.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }

                    // Whatever committed while nobody listened: every subscriber looks again.
                    Announce();
                    backoff = TimeSpan.FromMilliseconds(100);
                    while (true)
                    {
                        await connection.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException)
            {
                try
                {
                    await Task.Delay(backoff, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return; // the container disposes the store once per registration
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        Task? loop;
        lock (_gate)
        {
            loop = _loop;
        }

        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }

        _stop.Dispose();
    }
}
