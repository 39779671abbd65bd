using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>
/// Faults in the middle of a write: the server connection is killed while the write waits inside its
/// transaction, or a server timeout expires. Afterwards the data is all there or none of it, the error is
/// typed, and the next call on the same data source works.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class FaultTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private ServiceProvider Services(string applicationName, string? options = null) =>
        new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { ApplicationName = applicationName, Options = options }.ConnectionString;
                o.Schema = _host.Schema;
            })
            .BuildServiceProvider();

    /// <summary>
    /// Holds a lock that makes the write wait, kills the waiting backend, releases the lock, and returns what the
    /// write threw.
    /// </summary>
    private async Task<Exception> KillWhileWaitingAsync(string table, string application, Func<Task> write)
    {
        await using var blocker = await postgres.OpenAsync();
        await using var lockTransaction = await blocker.BeginTransactionAsync(Ct);
        await using (var take = new NpgsqlCommand($"lock table {S}.{table} in share mode", blocker, lockTransaction))
        {
            await take.ExecuteNonQueryAsync(Ct);
        }

        var running = Task.Run(write, Ct);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var killed = false;
        while (!killed && DateTime.UtcNow < deadline)
        {
            killed = await postgres.ScalarAsync<bool>($"select coalesce(bool_or(pg_terminate_backend(pid)), false) from pg_stat_activity where application_name = '{application}' and wait_event_type = 'Lock'");
            if (!killed)
            {
                await Task.Delay(20, Ct);
            }
        }

        Assert.True(killed, "the write never waited on the lock");
        await lockTransaction.RollbackAsync(Ct);
        return await Assert.ThrowsAnyAsync<Exception>(() => running);
    }

    [Fact]
    public async Task A_killed_connection_in_the_middle_of_a_1000_event_append_leaves_nothing_and_the_next_call_works()
    {
        await using var services = Services("fault-append");
        var store = services.GetRequiredService<IEventStore>();
        var stream = Guid.NewGuid();
        var batch = Enumerable.Range(0, 1000).Select(i => NewEvent.FromJson("fault.tick", $$"""{"i": {{i}}}""")).ToArray();

        var error = await KillWhileWaitingAsync("events", "fault-append", () => store.AppendAsync(stream, "fault", 0, batch, Ct));
        Assert.IsAssignableFrom<NpgsqlException>(error);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where aggregate_id = '{stream}'"));

        // The caller's retry with the same ids is safe and completes the append exactly once.
        var retried = await store.AppendAsync(stream, "fault", 0, batch, Ct);
        Assert.Equal(1000, retried.StreamVersion);
        Assert.Equal(1000L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where aggregate_id = '{stream}'"));
    }

    [Fact]
    public async Task A_killed_connection_during_a_bulk_import_or_a_publish_leaves_the_previous_state()
    {
        await using var services = Services("fault-forms");
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var v1 = await forms.CreateAsync("faulty", JsonDocument.Parse("""{"schema": {"type": "object"}}""").RootElement, null, Ct);
        await forms.PublishAsync(v1.Id, null, Ct);
        var v2 = await forms.CreateVersionAsync("faulty", null, null, Ct);
        var submissions = services.GetRequiredService<IFormSubmissionRepository>();

        var rows = Enumerable.Range(0, 500).Select(i => JsonDocument.Parse($$"""{"i": {{i}}}""").RootElement).ToArray();
        var bulkError = await KillWhileWaitingAsync("form_submissions", "fault-forms", () => submissions.BulkImportAsync("faulty", rows, null, Ct));
        Assert.IsAssignableFrom<NpgsqlException>(bulkError);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where aggregate_type = 'form_submission'"));

        var publishError = await KillWhileWaitingAsync("form_definitions", "fault-forms", () => forms.PublishAsync(v2.Id, null, Ct));
        Assert.IsAssignableFrom<NpgsqlException>(publishError);
        Assert.Equal(v1.Id, (await forms.GetActiveAsync("faulty", Ct))!.Id);
        Assert.Equal(FormDefinitionStatus.Draft, (await forms.GetByIdAsync(v2.Id, Ct))!.Status);

        // The same data source goes on working.
        Assert.Equal(500, await submissions.BulkImportAsync("faulty", rows, null, Ct));
        Assert.Equal(v2.Id, (await forms.PublishAsync(v2.Id, null, Ct)).Id);
    }

    [Fact]
    public async Task A_lock_timeout_and_a_statement_timeout_are_typed_errors()
    {
        await using var blocker = await postgres.OpenAsync();
        await using var transaction = await blocker.BeginTransactionAsync(Ct);
        await using (var take = new NpgsqlCommand($"lock table {S}.events in exclusive mode", blocker, transaction))
        {
            await take.ExecuteNonQueryAsync(Ct);
        }

        await using (var lockTimeout = Services("timeout-lock", "-c lock_timeout=200"))
        {
            var error = await Assert.ThrowsAsync<PliersTimeoutException>(() => lockTimeout.GetRequiredService<IEventStore>().AppendAsync(Guid.NewGuid(), "t", 0, [NewEvent.FromJson("e", "{}")], Ct));
            Assert.Equal("lock_timeout", error.Reason);
        }

        await using (var statementTimeout = Services("timeout-statement", "-c statement_timeout=200"))
        {
            var error = await Assert.ThrowsAsync<PliersTimeoutException>(() => statementTimeout.GetRequiredService<IEventStore>().AppendAsync(Guid.NewGuid(), "t", 0, [NewEvent.FromJson("e", "{}")], Ct));
            Assert.Equal("statement_timeout", error.Reason);
        }

        await transaction.RollbackAsync(Ct);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events"));
    }
}
