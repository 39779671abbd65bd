using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>
/// The library through a real PgBouncer (issue 16): in transaction pooling every operation works (concurrent
/// migrations included), nothing of the library stays behind on a pooled server connection (no session setting,
/// no prepared statement, no LISTEN), and subscriptions poll; in session pooling everything works as directly.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class PgBouncerTests(PostgresFixture postgres) : IAsyncLifetime
{
    private PgBouncer? _bouncer;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // Never skipped: without the binary these tests fail and say what to install (.ci/run installs it).
        var binary = PgBouncer.Binary()
            ?? throw new InvalidOperationException("pgbouncer is not installed: apt-get install pgbouncer (.ci/run does this)");
        _bouncer = await PgBouncer.StartAsync(binary, postgres.ConnectionString, Ct);
    }

    public async ValueTask DisposeAsync()
    {
        if (_bouncer is not null)
        {
            await _bouncer.DisposeAsync();
        }
    }

    private PgBouncer Bouncer => _bouncer ?? throw new InvalidOperationException("PgBouncer did not start");

    private ServiceProvider Host(string connectionString, string schema, bool transactionPooling) => new ServiceCollection()
        .AddPliersData(o =>
        {
            o.ConnectionString = connectionString;
            o.Schema = schema;
            o.TransactionPooling = transactionPooling;
        })
        .BuildServiceProvider();

    [Fact]
    public async Task Every_operation_works_through_transaction_pooling_and_leaves_nothing_on_server_connections()
    {
        var schema = PostgresFixture.NewSchemaName("pgb");
        var through = Bouncer.ConnectionString("txn");
        try
        {
            // Concurrent migrations through the pooler: the lock holds (an open transaction keeps its server
            // connection), every migration is applied exactly once.
            var hosts = Enumerable.Range(0, 3).Select(_ => Host(through, schema, transactionPooling: true)).ToArray();
            try
            {
                using var barrier = new Barrier(hosts.Length);
                await Task.WhenAll(hosts.Select(h => Task.Run(
                    async () =>
                    {
                        barrier.SignalAndWait(Ct);
                        await h.MigratePliersDatabaseAsync(Ct);
                    },
                    Ct)));
            }
            finally
            {
                foreach (var h in hosts)
                {
                    await h.DisposeAsync();
                }
            }

            Assert.Equal(
                (long)Pliers.Data.Migrations.PliersMigrations.Versions.Count,
                await postgres.ScalarAsync<long>($"select count(*) from \"{schema}\".version_info"));

            await using var services = Host(through, schema, transactionPooling: true);
            Assert.True((await services.VerifyPliersDatabaseAsync(Ct)).IsMatch);
            var forms = services.GetRequiredService<IFormDefinitionRepository>();
            var submissions = services.GetRequiredService<IFormSubmissionRepository>();
            var store = services.GetRequiredService<IEventStore>();

            var draft = await forms.CreateAsync("pooled", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}, "at": {"format": "date"}}}}""").RootElement, null, Ct);
            await forms.PublishAsync(draft.Id, null, Ct);
            var tenantForms = forms.ForTenant("pooled-tenant");
            await tenantForms.PublishAsync((await tenantForms.CreateAsync("pooled", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["t"]}}""").RootElement, null, Ct)).Id, null, Ct);
            var tenant = submissions.ForTenant("pooled-tenant");

            // A subscription behind the pooler polls: it sees what is appended while it runs.
            using var subscription = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var seen = new System.Collections.Concurrent.ConcurrentQueue<Guid>();
            var reader = Task.Run(
                async () =>
                {
                    try
                    {
                        await foreach (var e in store.SubscribeAllAsync(GlobalPosition.Start, null, subscription.Token))
                        {
                            seen.Enqueue(e.AggregateId);
                        }
                    }
                    catch (OperationCanceledException) when (subscription.IsCancellationRequested)
                    {
                    }
                },
                Ct);

            // Every operation kind, repeatedly (Npgsql would prepare a statement from its fifth use).
            var stream = Guid.NewGuid();
            for (var i = 0; i < 8; i++)
            {
                var created = await submissions.CreateAsync("pooled", JsonDocument.Parse($$"""{"n": {{i}}}""").RootElement, null, Ct);
                var updated = await submissions.UpdateDataAsync(created.Id, created.RowVersion, JsonDocument.Parse($$"""{"n": {{i + 100}}, "at": "2026-12-05"}""").RootElement, null, Ct);
                await submissions.ChangeStatusAsync(updated.Id, updated.RowVersion, SubmissionStatus.Submitted, null, Ct);
                await submissions.BulkImportAsync("pooled", [JsonDocument.Parse("""{"n": 1}""").RootElement, JsonDocument.Parse("""{"n": 2}""").RootElement], null, Ct);
                await store.AppendAsync(stream, "pooled", i, [NewEvent.FromJson("one", "{}")], Ct);
                await store.AppendAsync(Guid.NewGuid(), "pooled", 0, [NewEvent.FromJson("a", "{}"), NewEvent.FromJson("b", "{}")], Ct);
                Assert.NotNull(await submissions.GetByIdAsync(created.Id, Ct));
                Assert.NotEmpty((await submissions.QueryAsync(new SubmissionQuery { FormName = "pooled", PageSize = 5 }, Ct)).Items);

                // A named tenant: its setting travels with each statement and ends with its transaction.
                var inTenant = await tenant.CreateAsync("pooled", JsonDocument.Parse($$"""{"t": {{i}}}""").RootElement, null, Ct);
                Assert.NotNull(await tenant.GetByIdAsync(inTenant.Id, Ct));
                Assert.Null(await submissions.GetByIdAsync(inTenant.Id, Ct));
                await tenant.BulkImportAsync("pooled", [JsonDocument.Parse("""{"t": 1}""").RootElement], null, Ct);
            }

            Assert.Equal(16L, await tenant.CountAsync(new SubmissionQuery { FormName = "pooled" }, Ct));

            Assert.Equal(24L, await submissions.CountAsync(new SubmissionQuery { FormName = "pooled" }, Ct)); // 8 created, 16 imported
            await Assert.ThrowsAsync<PliersValidationException>(() => submissions.CreateAsync("pooled", JsonDocument.Parse("""{"n": 1, "at": "2026-02-30"}""").RootElement, null, Ct));
            var streamEvents = 0;
            await foreach (var e in store.ReadStreamAsync(stream, 1, Ct))
            {
                streamEvents++;
            }

            Assert.Equal(8, streamEvents);

            // The subscription received the stream's events (bounded wait; it polls every second).
            await Eventually.WaitAsync(() => seen.Count(id => id == stream) >= 8, "the polling subscription delivered the stream's 8 events");

            await subscription.CancelAsync();
            await reader;
            Assert.Equal(8, seen.Count(id => id == stream));

            // Nothing of the library stays on any server connection of the pool.
            var probes = await Task.WhenAll(Enumerable.Range(0, 12).Select(async _ =>
            {
                await using var connection = new NpgsqlConnection(through);
                await connection.OpenAsync(Ct);
                await using var command = new NpgsqlCommand(
                    """
                    select pg_backend_pid(),
                           (select string_agg(name, ',') from pg_settings where source = 'session'),
                           (select count(*) from pg_prepared_statements),
                           (select count(*) from pg_listening_channels()),
                           coalesce(current_setting('pliers.tenant', true), '')
                    """,
                    connection);
                await using var row = await command.ExecuteReaderAsync(Ct);
                await row.ReadAsync(Ct);
                return (Pid: row.GetInt32(0), Settings: row.IsDBNull(1) ? null : row.GetString(1), Prepared: row.GetInt64(2), Listening: row.GetInt64(3), Tenant: row.GetString(4));
            }));
            Assert.All(probes, p =>
            {
                Assert.Null(p.Settings);
                Assert.Equal(0L, p.Prepared);
                Assert.Equal(0L, p.Listening);
                Assert.Equal(string.Empty, p.Tenant);
            });
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    [Fact]
    public async Task Session_pooling_works_as_a_direct_connection_does()
    {
        var schema = PostgresFixture.NewSchemaName("pgs");
        try
        {
            await using var services = Host(Bouncer.ConnectionString("session"), schema, transactionPooling: false);
            await services.MigratePliersDatabaseAsync(Ct);
            var forms = services.GetRequiredService<IFormDefinitionRepository>();
            var draft = await forms.CreateAsync("session", JsonDocument.Parse("""{"schema": {"type": "object"}}""").RootElement, null, Ct);
            await forms.PublishAsync(draft.Id, null, Ct);
            var submissions = services.GetRequiredService<IFormSubmissionRepository>();
            var store = services.GetRequiredService<IEventStore>();
            for (var i = 0; i < 8; i++)
            {
                await submissions.CreateAsync("session", JsonDocument.Parse("{}").RootElement, null, Ct);
                await store.AppendAsync(Guid.NewGuid(), "session", 0, [NewEvent.FromJson("e", "{}")], Ct);
            }

            Assert.Equal(8L, await submissions.CountAsync(new SubmissionQuery { FormName = "session" }, Ct));
            // Global reads stop below the oldest running transaction (other tests' included): wait, bounded, until
            // every event of this schema is below it.
            await Eventually.WaitAsync(
                async () =>
                {
                    var all = 0;
                    await foreach (var e in store.ReadAllAsync(GlobalPosition.Start, 1000, null, Ct))
                    {
                        all++;
                    }

                    return all;
                },
                all => all >= 8 + 8 + 2,
                "every event of the schema readable in global order");
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }
}
