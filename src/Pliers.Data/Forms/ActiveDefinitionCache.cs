using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;

namespace Pliers.Data.Forms;

/// <summary>What a submission write needs to know of a form version: its id, number, form name and JSON Schema.</summary>
internal sealed record ActiveDefinition(Guid Id, int Version, string Name, JsonElement Schema, string Tenant = "");

/// <summary>
/// The definitions submissions are written against, kept in the process so that a create is one statement.
/// <para>
/// Safety never depends on this cache: every write statement checks, under a row lock, that the version it names is
/// still the active one, and a refused write drops the entry and looks again. The cache only decides how often that
/// second look is needed.
/// </para>
/// <list type="bullet">
/// <item><b>By id</b>: the id, number, name and schema of a published version never change (active and archived
/// definitions are immutable; drafts are never cached), so these entries need no invalidation.</item>
/// <item><b>By name</b>: which version is active changes with a publish or an archive. Those writes send
/// <c>NOTIFY pliers_definitions</c> in their transaction; a listener on a connection of its own drops the name
/// when the commit is delivered. Until the listener is listening (and after it lost its connection, until it
/// listens again) nothing is served by name, and every reconnect empties the cache, since a notification may have
/// been missed meanwhile.</item>
/// </list>
/// Both maps are bounded by <see cref="PliersDataOptions.DefinitionCacheSize"/>.
/// </summary>
internal sealed class ActiveDefinitionCache : IAsyncDisposable
{
    /// <summary>The channel publishes and archives notify, with the payload <c>schema/name</c>.</summary>
    internal const string Channel = "pliers_definitions";

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, ActiveDefinition> _byName = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Guid, ActiveDefinition> _byId = new();
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _schema;
    private readonly int _capacity;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private Task? _listener;
    private long _generation;
    private volatile bool _listening;

    public ActiveDefinitionCache(NpgsqlDataSource dataSource, string schema, int capacity)
    {
        _dataSource = dataSource;
        _schema = schema;
        _capacity = capacity;
    }

    /// <summary>Gets whether the listener is listening (entries by name are served only then).</summary>
    internal bool Listening => _listening;

    /// <summary>Gets how many names are cached (tests).</summary>
    internal int NameCount => _byName.Count;

    /// <summary>Gets the generation to pass to <see cref="Add"/>: read it before reading the database.</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>The cached active version of the form <paramref name="name"/> names (a tenant key, <c>TenantScope.Key</c>), or null.</summary>
    public ActiveDefinition? ByName(string name)
    {
        if (_capacity == 0)
        {
            return null;
        }

        EnsureListener();
        return _listening && _byName.TryGetValue(name, out var found) ? found : null;
    }

    /// <summary>The cached published version <paramref name="id"/>, or null.</summary>
    public ActiveDefinition? ById(Guid id, string tenant) => _byId.TryGetValue(id, out var found) && found.Tenant == tenant ? found : null;

    /// <summary>
    /// Remembers an active version read from the database. By name only when no notification arrived since
    /// <paramref name="generation"/> was read (the read may predate a publish whose notification was already handled).
    /// </summary>
    public void Add(ActiveDefinition definition, string key, long generation)
    {
        if (_capacity == 0)
        {
            return;
        }

        AddById(definition);
        if (_listening && Generation == generation)
        {
            Bound(_byName);
            _byName[key] = definition;
        }
    }

    /// <summary>Remembers a published (active or archived, so immutable) version by id only.</summary>
    public void AddById(ActiveDefinition definition)
    {
        if (_capacity == 0)
        {
            return;
        }

        Bound(_byId);
        _byId[definition.Id] = definition;
    }

    /// <summary>Forgets which version of <paramref name="name"/> is active (a write found it changed, or a notification said so).</summary>
    public void Forget(string name)
    {
        Interlocked.Increment(ref _generation);
        _byName.TryRemove(name, out _);
    }

    private void ForgetAllNames()
    {
        Interlocked.Increment(ref _generation);
        _byName.Clear();
    }

    private void Bound<TKey>(ConcurrentDictionary<TKey, ActiveDefinition> map)
        where TKey : notnull
    {
        // Evicts an arbitrary entry (enumeration order); at worst one more look-up for that form.
        while (map.Count >= _capacity)
        {
            using var first = map.Keys.GetEnumerator();
            if (!first.MoveNext() || !map.TryRemove(first.Current, out _))
            {
                break;
            }
        }
    }

    private void EnsureListener()
    {
        if (_listener is not null)
        {
            return;
        }

        lock (_gate)
        {
            if (_listener is null && !_stopping.IsCancellationRequested)
            {
                _listener = Task.Run(ListenAsync);
            }
        }
    }

    private async Task ListenAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        var prefix = _schema + "/";
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var connection = _dataSource.CreateConnection();
                await using (connection.ConfigureAwait(false))
                {
                    connection.Notification += (_, e) =>
                    {
                        if (e.Channel == Channel && e.Payload.StartsWith(prefix, StringComparison.Ordinal))
                        {
                            Forget(e.Payload[prefix.Length..]);
                        }
                    };
                    await connection.OpenAsync(_stopping.Token).ConfigureAwait(false);
                    await using (var listen = new NpgsqlCommand("listen " + Channel, connection))
                    {
                        await listen.ExecuteNonQueryAsync(_stopping.Token).ConfigureAwait(false);
                    }

                    // Whatever was cached before LISTEN took effect may have missed a notification.
                    ForgetAllNames();
                    _listening = true;
                    backoff = TimeSpan.FromMilliseconds(100);
                    while (true)
                    {
                        await connection.WaitAsync(_stopping.Token).ConfigureAwait(false);
                    }
                }
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException or OperationCanceledException or TimeoutException)
            {
                _listening = false;
                ForgetAllNames();
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                try
                {
                    await Task.Delay(backoff, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task? listener;
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            _stopping.Cancel();
            listener = _listener;
        }

        if (listener is not null)
        {
            await listener.ConfigureAwait(false);
        }

        _listening = false;
        _stopping.Dispose();
    }
}
