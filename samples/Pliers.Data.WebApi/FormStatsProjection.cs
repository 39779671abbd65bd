using Dapper;
using Microsoft.Extensions.Options;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Subscriptions;

namespace Pliers.Data.WebApi;

/// <summary>
/// A projection kept by a durable named subscription ("form-stats"): submissions per form, written in the
/// subscription's own transaction, so each event counts exactly once even across crashes and restarts.
/// </summary>
/// <param name="options">The Pliers options (the schema the table lives in).</param>
public sealed class FormStatsProjection(IOptions<PliersDataOptions> options) : ISubscriptionHandler
{
    /// <summary>The subscription's name.</summary>
    public const string Name = "form-stats";

    /// <summary>
    /// The projection table, in a schema of the sample's own next to the Pliers schema (objects inside the Pliers
    /// schema that no migration declares count as drift).
    /// </summary>
    public static string Table(string schema) => $"\"{schema}_sample\".form_stats";

    /// <inheritdoc />
    public async Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken)
    {
        var created = @event.GetData<FormSubmissionCreated>()!;
        var schema = options.Value.Schema;
        await context.Connection!.ExecuteAsync(new CommandDefinition(
            $"""
            insert into {Table(schema)} (tenant, form, submissions, last_submission_at) values (@tenant, @form, 1, @at)
            on conflict (tenant, form) do update set submissions = {Table(schema)}.submissions + 1, last_submission_at = excluded.last_submission_at
            """,
            new { tenant = @event.TenantId, form = created.Form, at = @event.CreatedAt },
            context.Transaction,
            cancellationToken: cancellationToken));
    }
}

/// <summary>Creates the projection table at start-up (after the migrations, before the subscription starts).</summary>
internal sealed class FormStatsTable(NpgsqlDataSource dataSource, IOptions<PliersDataOptions> options) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition($"create schema if not exists \"{options.Value.Schema}_sample\"", cancellationToken: cancellationToken));
        await connection.ExecuteAsync(new CommandDefinition(
            $"create table if not exists {FormStatsProjection.Table(options.Value.Schema)} (tenant text not null, form text not null, submissions bigint not null, last_submission_at timestamptz not null, primary key (tenant, form))",
            cancellationToken: cancellationToken));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
