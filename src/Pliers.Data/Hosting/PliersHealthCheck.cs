using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Pliers.Data.Migrations;
using Pliers.Data.Subscriptions;

namespace Pliers.Data.Hosting;

/// <summary>
/// Unhealthy when PostgreSQL cannot be reached; Degraded when Pliers migrations are pending or the schema drifted
/// from what they declare (the drift check runs at most once per <see cref="DriftInterval"/>); Healthy otherwise.
/// </summary>
internal sealed class PliersHealthCheck(PliersMigrator migrator, ISubscriptionStore subscriptions, Microsoft.Extensions.Options.IOptions<PliersDataOptions> options) : IHealthCheck
{
    internal static readonly TimeSpan DriftInterval = TimeSpan.FromMinutes(1);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private (DateTime At, PliersSchemaVerification Verification)? _lastDrift;

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var status = await migrator.GetStatusAsync(cancellationToken).ConfigureAwait(false);
            var data = new Dictionary<string, object> { ["version"] = status.CurrentVersion, ["pending"] = status.Pending.Count };
            if (status.Pending.Count > 0)
            {
                return HealthCheckResult.Degraded($"{status.Pending.Count} Pliers migration(s) pending: {string.Join(", ", status.Pending.Select(m => m.Version))}.", data: data);
            }

            var drift = await DriftAsync(cancellationToken).ConfigureAwait(false);
            if (!drift.IsMatch)
            {
                data["differences"] = drift.Differences.Count;
                return HealthCheckResult.Degraded($"The Pliers schema drifted from its migrations: {string.Join("; ", drift.Differences.Take(5).Select(d => $"{d.Change} {d.Kind} {d.Name}"))}.", data: data);
            }

            // Durable subscriptions: stopped by a poison event is Unhealthy; behind or failing for longer than
            // SubscriptionStuckAfter is Degraded; each named with its age.
            var stuckAfter = options.Value.SubscriptionStuckAfter;
            var listed = await subscriptions.ListAsync(cancellationToken).ConfigureAwait(false);
            data["subscriptions"] = listed.Count;
            var stopped = listed.Where(s => s.StoppedAt is not null).ToArray();
            if (stopped.Length > 0)
            {
                return new HealthCheckResult(
                    context.Registration.FailureStatus,
                    "Stopped subscription(s): " + string.Join("; ", stopped.Select(s => $"'{s.Name}' since {s.StoppedAt:u}: {s.LastError}")),
                    data: data);
            }

            var now = DateTimeOffset.UtcNow;
            var stuck = listed
                .Select(s => (s.Name, Behind: s.Lag, Failing: s.FailingSince is { } f ? now - f : TimeSpan.Zero, s.LastError, s.LiveMembers))
                .Where(s => s.Behind > stuckAfter || s.Failing > stuckAfter)
                .ToArray();
            if (stuck.Length > 0)
            {
                return HealthCheckResult.Degraded(
                    "Stuck subscription(s): " + string.Join("; ", stuck.Select(s => s.Failing > stuckAfter
                        ? $"'{s.Name}' failing for {s.Failing.TotalSeconds:F0} s: {s.LastError}"
                        : $"'{s.Name}' {s.Behind.TotalSeconds:F0} s behind ({s.LiveMembers} live member(s))")),
                    data: data);
            }

            return HealthCheckResult.Healthy($"Pliers schema at version {status.CurrentVersion}.", data);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
        {
            // The message of an NpgsqlException never carries the password.
            return new HealthCheckResult(context.Registration.FailureStatus, "PostgreSQL is unreachable: " + e.Message);
        }
    }

    private async Task<PliersSchemaVerification> DriftAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lastDrift is { } last && DateTime.UtcNow - last.At < DriftInterval && last.Verification.IsMatch)
            {
                return last.Verification;
            }

            var result = await migrator.VerifyAsync(cancellationToken).ConfigureAwait(false);
            _lastDrift = (DateTime.UtcNow, result);
            return result;
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>Applies the Pliers migrations when the host starts (opt in with <c>AddPliersMigrationsOnStartup</c>).</summary>
internal sealed class PliersMigrationHostedService(IServiceProvider services) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => services.MigratePliersDatabaseAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
