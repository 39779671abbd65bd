using System.Globalization;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pliers.Data.Events;
using Pliers.Data.Internal;

namespace Pliers.Data.Subscriptions;

/// <summary>The subscription tables, read and operated from any process; see <see cref="ISubscriptionStore"/>.</summary>
internal sealed class PostgresSubscriptionStore(PliersDatabase database, IEventStore events) : ISubscriptionStore
{
    private readonly SubscriptionsTable _table = new(database);

    public async Task<IReadOnlyList<SubscriptionInfo>> ListAsync(CancellationToken cancellationToken = default) =>
        await ListCoreAsync(null, cancellationToken).ConfigureAwait(false);

    private async Task<IReadOnlyList<SubscriptionInfo>> ListCoreAsync(string? name, CancellationToken cancellationToken)
    {
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<ListRow>(database.AllTenants.Command(_table.List, new { name }, cancellationToken)).ConfigureAwait(false);
            return rows.GroupBy(r => r.Name).Select(g =>
            {
                var first = g.First();
                return new SubscriptionInfo(
                    g.Key,
                    g.Select(r => new SubscriptionPartitionInfo(r.Partition, new GlobalPosition(r.TransactionId, r.Position), r.Owner, Utc(r.LeaseUntil), Utc(r.UpdatedAt))).ToArray(),
                    first.LiveMembers,
                    g.Select(r => Utc(r.StoppedAt)).Max(),
                    g.Select(r => Utc(r.FailingSince)).Min(),
                    g.Select(r => r.LastError).FirstOrDefault(e => e is not null),
                    first.Parked,
                    TimeSpan.FromSeconds(g.Max(r => r.LagSeconds)));
            }).ToArray();
        }
    }

    public async Task<IReadOnlyList<ParkedEvent>> ListParkedAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<ParkedRow>(new CommandDefinition(_table.ListParked, new { name }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => new ParkedEvent(r.Id, r.Subscription, r.EventId, new GlobalPosition(r.TransactionId, r.Position), r.Error, r.Attempts, Utc(r.ParkedAt), Utc(r.ReplayRequestedAt))).ToArray();
        }
    }

    public async Task<int> ReplayParkedAsync(string name, long? parkedId = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return await ExecuteAsync(_table.RequestReplay, new { name, id = parkedId }, cancellationToken).ConfigureAwait(false);
    }

    public async Task ResetAsync(string name, SubscriptionStart to, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var position = to.Kind switch
        {
            1 => await events.GetHeadPositionAsync(cancellationToken).ConfigureAwait(false),
            2 => to.Position,
            _ => GlobalPosition.Start,
        };
        if (await ExecuteAsync(_table.Reset, new { name, transaction_id = position.TransactionId.ToString(CultureInfo.InvariantCulture), position = position.Position }, cancellationToken).ConfigureAwait(false) == 0)
        {
            throw NotFound(name);
        }
    }

    public async Task ResumeAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (await ExecuteAsync(_table.Resume, new { name }, cancellationToken).ConfigureAwait(false) == 0)
        {
            throw NotFound(name);
        }
    }

    public async Task WaitForCaughtUpAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var head = await events.GetHeadPositionAsync(cancellationToken).ConfigureAwait(false);
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            var info = (await ListCoreAsync(name, cancellationToken).ConfigureAwait(false)).SingleOrDefault();
            if (info is null)
            {
                // Not registered yet: a member registers in the background when its host starts.
            }
            else if (info.StoppedAt is not null)
            {
                throw new PliersDataException($"Subscription '{name}' is stopped: {info.LastError}");
            }

            else if (info.Partitions.All(p => p.Checkpoint >= head))
            {
                return;
            }

            await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(100).Ticks));
        }
    }

    private async Task<int> ExecuteAsync(string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.ExecuteAsync(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    private static PliersNotFoundException NotFound(string name) => new($"No subscription is named '{name}'.");

    private static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    private static DateTimeOffset? Utc(DateTime? value) => value is { } v ? Utc(v) : null;
}

/// <summary>Runs one member of a named subscription for the life of the host.</summary>
internal sealed class PliersSubscriptionService<THandler>(IServiceProvider services, string name, SubscriptionOptions options) : Microsoft.Extensions.Hosting.IHostedService, IAsyncDisposable
    where THandler : class, ISubscriptionHandler
{
    private readonly CancellationTokenSource _stop = new();
    private Task? _run;

    /// <summary>Gets the running member, once started.</summary>
    internal SubscriptionMember? Member { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var scopes = services.GetRequiredService<IServiceScopeFactory>();
        Member = new SubscriptionMember(
            name,
            options,
            services.GetRequiredService<PliersDatabase>(),
            services.GetRequiredService<PostgresEventStore>(),
            () =>
            {
                var scope = scopes.CreateAsyncScope();
                return (scope.ServiceProvider.GetRequiredService<THandler>(), scope);
            },
            services.GetService<ILoggerFactory>()?.CreateLogger("Pliers.Data.Subscriptions") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var member = Member;
        var logger = services.GetService<ILoggerFactory>()?.CreateLogger("Pliers.Data.Subscriptions") ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
        _run = Task.Run(
            async () =>
            {
                try
                {
                    await member.RunAsync(_stop.Token).ConfigureAwait(false);
                }
                catch (PliersSubscriptionConfigurationException e)
                {
                    PliersLog.SubscriptionStopped(logger, name, e.Message);
                }
            },
            CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_run is null)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _run.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the member stopped, or the host's stop timeout ran out
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Disposed without a host's stop (or after it): give the member a bounded time to store its checkpoints.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await StopAsync(bound.Token).ConfigureAwait(false);
        _stop.Dispose();
    }
}
