using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Testing;

namespace Pliers.Data.Tests.Hosting;

/// <summary>A real primary and a streaming standby (pg_basebackup -R) on loopback: reads land on the standby.</summary>
public sealed class ReadReplicaTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Queries_go_to_the_standby_and_writes_to_the_primary()
    {
        var options = new TestPostgresOptions { ConnectionStringVariable = "PLIERS_NO_SUCH_VARIABLE", UseTestcontainers = false, MaxConnections = 50 };
        await using var primary = await TestPostgres.StartAsync(options, Ct);
        await using var standby = await primary.StartStandbyAsync(Ct);

        var p = new NpgsqlConnectionStringBuilder(primary.ConnectionString);
        var s = new NpgsqlConnectionStringBuilder(standby.ConnectionString);
        var reads = new NpgsqlConnectionStringBuilder
        {
            Host = $"{p.Host}:{p.Port},{s.Host}:{s.Port}",
            Username = "postgres",
            Password = p.Password,
            Database = "postgres",
            TargetSessionAttributes = "prefer-standby",
            ApplicationName = "pliers-reads",
        }.ConnectionString;

        await using var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = new NpgsqlConnectionStringBuilder(primary.ConnectionString) { ApplicationName = "pliers-writes" }.ConnectionString;
                o.ReadConnectionString = reads;
            })
            .BuildServiceProvider();
        await services.MigratePliersDatabaseAsync(Ct);
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("replicated", JsonDocument.Parse("""{"schema": {"type": "object"}}""").RootElement, null, Ct);
        await forms.PublishAsync(draft.Id, null, Ct);
        var submission = await services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("replicated", JsonDocument.Parse("""{"a": 1}""").RootElement, null, Ct);

        // The standby replays asynchronously: wait until the row is there, reading through Pliers.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        FormSubmission? replicated = null;
        while (replicated is null && DateTime.UtcNow < deadline)
        {
            try
            {
                replicated = await services.GetRequiredService<IFormSubmissionRepository>().GetByIdAsync(submission.Id, Ct);
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedColumn or PostgresErrorCodes.UndefinedTable)
            {
                // the standby has not replayed the latest migration yet
            }

            if (replicated is null)
            {
                await Task.Delay(50, Ct);
            }
        }

        Assert.NotNull(replicated);
        var events = new List<StoredEvent>();
        await foreach (var e in services.GetRequiredService<IEventStore>().ReadStreamAsync(submission.Id, 1, Ct))
        {
            events.Add(e);
        }

        Assert.Equal("form.submission.created", Assert.Single(events).EventType);

        // Where did the sessions go? Reads on the standby, writes on the primary, and no read session on the primary.
        // (Npgsql's multi-host pool may keep an idle probe session on the primary; what matters is which server
        // ran Pliers' statements, which pg_stat_activity.query shows as each session's last statement.)
        async Task<long> SessionsAsync(TestPostgres server, string application)
        {
            await using var connection = new NpgsqlConnection(server.ConnectionString);
            await connection.OpenAsync(Ct);
            await using var command = new NpgsqlCommand("select count(*) from pg_stat_activity where application_name = @a and query like '%\"pliers\".%'", connection);
            command.Parameters.AddWithValue("a", application);
            return (long)(await command.ExecuteScalarAsync(Ct))!;
        }

        Assert.True(await SessionsAsync(standby, "pliers-reads") >= 1);
        Assert.Equal(0L, await SessionsAsync(primary, "pliers-reads"));
        Assert.True(await SessionsAsync(primary, "pliers-writes") >= 1);
        await using (var check = new NpgsqlConnection(standby.ConnectionString))
        {
            await check.OpenAsync(Ct);
            await using var recovery = new NpgsqlCommand("select pg_is_in_recovery()", check);
            Assert.True((bool)(await recovery.ExecuteScalarAsync(Ct))!);
        }

        // A write through the read-only standby is impossible; Pliers never sends one there.
        var stale = await Assert.ThrowsAsync<PliersConcurrencyException>(() => services.GetRequiredService<IFormSubmissionRepository>().UpdateDataAsync(submission.Id, submission.RowVersion + 1, JsonDocument.Parse("{}").RootElement, null, Ct));
        Assert.Equal(submission.Id, stale.EntityId);
    }
}
