using Npgsql;
using NpgsqlTypes;

namespace Pliers.Data.Events;

/// <summary>
/// Announces appends to subscribers with <c>NOTIFY</c>, off the appenders' path. A NOTIFY inside the append's
/// transaction would take PostgreSQL's global notify lock at every commit and serialise concurrent appenders
/// (measured: 0.61x raw throughput with 8 writers). A pooled connection that has sent NOTIFY also made every
/// later append on it slower (batches of 100: 0.67x raw instead of 0.9x), so the signal keeps a connection of
/// its own. Each committed append pokes this signal, and one background loop sends a single NOTIFY for however
/// many appends happened meanwhile, at most one per <see cref="Interval"/>.
/// </summary>
internal sealed class AppendSignal(NpgsqlDataSource dataSource, string schema) : IAsyncDisposable
{
    /// <summary>The shortest time between two notifications: the most a subscriber waits beyond the commit.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(25);

    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Task _loop = Task.CompletedTask;
    private bool _requested;
    private bool _running;
    private bool _disposed;
    private NpgsqlConnection? _connection;

    public void Poke()
    {
        // A NOTIFY is already due and the loop has not taken the request yet: it is sent after this commit. Appenders
        // then never meet on the lock.
        if (Volatile.Read(ref _requested) && Volatile.Read(ref _running))
        {
            return;
        }

        lock (_gate)
        {
            _requested = true;
            if (_running || _disposed)
            {
                return;
            }

            _running = true;
            _loop = Task.Run(SendAsync);
        }
    }

    private async Task SendAsync()
    {
        while (true)
        {
            lock (_gate)
            {
                if (!_requested || _disposed)
                {
                    _running = false;
                    return;
                }

                _requested = false;
            }

            try
            {
                // A connection held for good (it never goes back to the pool): a backend that has sent NOTIFY
                // pays for it on its later commits, and the appenders' connections must not inherit that.
                if (_connection is not { State: System.Data.ConnectionState.Open })
                {
                    if (_connection is not null)
                    {
                        await _connection.DisposeAsync().ConfigureAwait(false);
                    }

                    _connection = dataSource.CreateConnection();
                    await _connection.OpenAsync(_stopping.Token).ConfigureAwait(false);
                }

                // Asynchronous commit, for this transaction only: a wake-up needs no durability (listeners are woken at
                // commit either way), and NOTIFY gives its transaction an id, so a synchronous commit would add a WAL
                // flush per notification to the disk's queue, in front of the appenders' own commits.
                await using var command = new NpgsqlCommand("select pg_notify('" + PostgresEventStore.Channel + "', @schema), set_config('synchronous_commit', 'off', true)", _connection);
                command.Parameters.Add(new NpgsqlParameter<string>("schema", NpgsqlDbType.Text) { TypedValue = schema });
                await command.ExecuteNonQueryAsync(_stopping.Token).ConfigureAwait(false);

                // Coalesce: at most one NOTIFY per interval, however many appends commit meanwhile.
                await Task.Delay(Interval, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or ObjectDisposedException or OperationCanceledException)
            {
                // Subscribers re-check every second anyway; a lost wake-up only delays them. Reconnect next time.
                if (_connection is not null)
                {
                    await _connection.DisposeAsync().ConfigureAwait(false);
                    _connection = null;
                }
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task loop;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _stopping.Cancel();
            loop = _loop;
        }

        await loop.ConfigureAwait(false);
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
