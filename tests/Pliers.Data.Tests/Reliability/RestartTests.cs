using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Migrations;
using Pliers.Data.Testing;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>Server restarts and interrupted migrations, on a cluster of the test's own.</summary>
[Trait("Category", "Reliability")]
public sealed class RestartTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestPostgres> OwnClusterAsync() =>
        TestPostgres.StartAsync(new TestPostgresOptions { ConnectionStringVariable = "PLIERS_NO_SUCH_VARIABLE", UseTestcontainers = false, MaxConnections = 50 }, Ct);

    [Fact]
    public async Task A_server_restart_during_a_steady_workload_loses_no_acknowledged_write()
    {
        await using var server = await OwnClusterAsync();
        await using var services = new ServiceCollection()
            .AddPliersData(o => o.ConnectionString = server.ConnectionString)
            .BuildServiceProvider();
        await services.MigratePliersDatabaseAsync(Ct);
        var store = services.GetRequiredService<IEventStore>();

        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<Guid>();
        var failures = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var e = NewEvent.FromJson("restart.tick", "{}");
                try
                {
                    await store.AppendAsync(Guid.NewGuid(), "restart", 0, [e], CancellationToken.None);
                    acknowledged.Add(e.Id);
                }
                catch (NpgsqlException)
                {
                    Interlocked.Increment(ref failures); // a write in flight when the server went away: not acknowledged
                    await Task.Delay(20, CancellationToken.None);
                }
            }
        }, Ct)).ToArray();

        await Eventually.WaitAsync(() => acknowledged.Count >= 200, "200 writes acknowledged before the restart");
        var before = acknowledged.Count;
        await server.RestartAsync(Ct);
        var afterRestart = acknowledged.Count;
        await Eventually.WaitAsync(() => acknowledged.Count >= afterRestart + 200, "200 more writes acknowledged after the restart");
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        Assert.True(before > 0, "writes before the restart");
        Assert.True(acknowledged.Count > afterRestart, "writes resumed after the restart without a new process or data source");
        // A fresh pool: connections pooled before the restart (FluentMigrator's, here) are dead until used once.
        await using var verify = NpgsqlDataSource.Create(server.ConnectionString);
        await using var command = verify.CreateCommand("select id from pliers.events");
        var stored = new HashSet<Guid>();
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                stored.Add(reader.GetGuid(0));
            }
        }

        Assert.All(acknowledged, id => Assert.Contains(id, stored));
        TestContext.Current.TestOutputHelper?.WriteLine($"acknowledged {acknowledged.Count}, stored {stored.Count}, failed in flight {failures}");
    }

    [Fact]
    public async Task A_migration_interrupted_half_way_leaves_the_previous_version_and_the_next_migrate_completes()
    {
        var schema = PostgresFixture.NewSchemaName("mig_fault");
        var connectionString = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { ApplicationName = "pliers-migrate-fault" }.ConnectionString;
        await using var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = connectionString;
                o.Schema = schema;
            })
            .BuildServiceProvider();
        try
        {
            await services.MigratePliersDatabaseAsync(Ct);
            // The validation migration alters form_definitions: roll back to just before it, hold a lock on the table
            // so the migration waits inside its transaction, then kill the migrating connection.
            var validation = PliersMigrations.Versions.ToList().IndexOf(202611251000);
            var before = PliersMigrations.Versions[validation - 1];
            var pending = PliersMigrations.Versions.Skip(validation).ToArray();
            await services.RollbackPliersDatabaseAsync(before, Ct);
            await using var blocker = await postgres.OpenAsync();
            await using var transaction = await blocker.BeginTransactionAsync(Ct);
            await using (var take = new NpgsqlCommand($"lock table \"{schema}\".form_definitions in access share mode", blocker, transaction))
            {
                await take.ExecuteNonQueryAsync(Ct);
            }

            var migrating = services.MigratePliersDatabaseAsync(Ct);
            var killed = false;
            for (var i = 0; i < 500 && !killed; i++)
            {
                killed = await postgres.ScalarAsync<bool>("select coalesce(bool_or(pg_terminate_backend(pid)), false) from pg_stat_activity where application_name = 'pliers-migrate-fault' and wait_event_type = 'Lock'");
                if (!killed)
                {
                    await Task.Delay(20, Ct);
                }
            }

            Assert.True(killed, "the migration never waited on the lock");
            await transaction.RollbackAsync(Ct);
            await Assert.ThrowsAnyAsync<Exception>(() => migrating);

            var status = await services.GetPliersMigrationStatusAsync(Ct);
            Assert.Equal(before, status.CurrentVersion);
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '{schema}' and p.proname = 'jsonb_matches_schema'"));

            NpgsqlConnection.ClearAllPools();
            var result = await services.MigratePliersDatabaseAsync(Ct);
            Assert.Equal(pending, result.Applied);
            Assert.True((await services.VerifyPliersDatabaseAsync(Ct)).IsMatch);
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    /// <summary>
    /// A subscription survives a killed listen connection and a server restart (issue 15's resilience): it reconnects
    /// and continues after the last event it delivered; every acknowledged event arrives exactly once, in order.
    /// </summary>
    [Fact]
    public async Task A_subscription_survives_a_killed_connection_and_a_restart_and_skips_nothing()
    {
        await using var server = await OwnClusterAsync();
        await using var services = new ServiceCollection()
            .AddPliersData(o => o.ConnectionString = server.ConnectionString)
            .BuildServiceProvider();
        await services.MigratePliersDatabaseAsync(Ct);
        var store = services.GetRequiredService<IEventStore>();

        var received = new System.Collections.Concurrent.ConcurrentQueue<StoredEvent>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // Four more subscriptions of the same store: all of them share one LISTEN connection.
        var seenByOthers = new int[4];
        var others = Enumerable.Range(0, 4).Select(o => Task.Run(
            async () =>
            {
                try
                {
                    await foreach (var e in store.SubscribeAllAsync(GlobalPosition.Start, null, stop.Token))
                    {
                        Interlocked.Increment(ref seenByOthers[o]);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            },
            Ct)).ToArray();
        var subscriber = Task.Run(
            async () =>
            {
                try
                {
                    await foreach (var e in store.SubscribeAllAsync(GlobalPosition.Start, null, stop.Token))
                    {
                        received.Enqueue(e);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                }
            },
            Ct);

        var acknowledged = new List<Guid>();
        async Task AppendAsync(int count)
        {
            for (var i = 0; i < count; i++)
            {
                var e = NewEvent.FromJson("tick", "{}");
                var stream = Guid.NewGuid();
                for (var attempt = 1; ; attempt++)
                {
                    try
                    {
                        await store.AppendAsync(stream, "resilient", ExpectedVersion.Any, [e], Ct); // a retry of a committed append is idempotent (same event id)
                        acknowledged.Add(e.Id);
                        break;
                    }
                    catch (NpgsqlException) when (attempt < 20)
                    {
                        // a pooled connection from before the restart: the next attempt opens a fresh one
                    }
                }
            }
        }

        await AppendAsync(30);
        await Eventually.WaitAsync(() => received.Count >= 30, "30 events delivered");
        // The shared listener connects in the background (subscribers read before they wait): one for all five.
        await Eventually.WaitAsync(() => ScalarAsync<long>(server, "select count(*) from pg_stat_activity where query like 'listen %'"), n => n == 1, "one listening backend for the five subscriptions");

        // The subscription's own LISTEN connection is killed.
        await using (var admin = new NpgsqlConnection(server.ConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using var kill = new NpgsqlCommand("select count(pg_terminate_backend(pid)) from pg_stat_activity where query like 'listen %' and pid <> pg_backend_pid()", admin);
            Assert.True((long)(await kill.ExecuteScalarAsync(Ct))! >= 1, "no listening connection found");
        }

        await AppendAsync(30);
        await Eventually.WaitAsync(() => received.Count >= 60, "30 more events after the killed connection");

        // The whole server restarts.
        await server.RestartAsync(Ct);
        await AppendAsync(30);
        await Eventually.WaitAsync(() => received.Count >= 90, "30 more events after the restart");

        await Eventually.WaitAsync(() => seenByOthers.All(n => Volatile.Read(ref n) >= 90), "the other four subscriptions delivered all 90 events too");
        await stop.CancelAsync();
        await subscriber;
        await Task.WhenAll(others);
        Assert.All(seenByOthers, n => Assert.Equal(90, n));
        var delivered = received.ToArray();
        Assert.Equal(acknowledged, delivered.Select(e => e.Id));
        Assert.True(delivered.Zip(delivered.Skip(1)).All(p => p.First.GlobalPosition.CompareTo(p.Second.GlobalPosition) < 0));
    }

    /// <summary>
    /// A durable named subscription through a killed connection (every backend of its host terminated) and a server
    /// restart: it retries with backoff, resumes from its stored checkpoint, handles every acknowledged event, in
    /// global order of first delivery, and handles again at most what it had not stored yet (at-least-once).
    /// </summary>
    [Fact]
    public async Task A_named_subscription_survives_killed_connections_and_a_restart_from_its_checkpoint()
    {
        await using var server = await OwnClusterAsync();
        var app = new NpgsqlConnectionStringBuilder(server.ConnectionString) { ApplicationName = "pliers-named-sub" }.ConnectionString;
        var handled = new System.Collections.Concurrent.ConcurrentQueue<Guid>();
        var services = new ServiceCollection()
            .AddPliersData(o => o.ConnectionString = app)
            .AddSingleton(new Handler(handled))
            .AddPliersSubscription<Handler>("durable", o => o.LeaseDuration = TimeSpan.FromSeconds(2))
            .BuildServiceProvider();
        await using (services)
        {
            await services.MigratePliersDatabaseAsync(Ct);
            var hosted = services.GetServices<Microsoft.Extensions.Hosting.IHostedService>().ToArray();
            foreach (var h in hosted)
            {
                await h.StartAsync(Ct);
            }

            var store = services.GetRequiredService<IEventStore>();
            var subscriptions = services.GetRequiredService<Pliers.Data.Subscriptions.ISubscriptionStore>();
            var acknowledged = new List<Guid>();
            async Task AppendAsync(int count)
            {
                for (var i = 0; i < count; i++)
                {
                    var e = NewEvent.FromJson("tick", "{}");
                    var stream = Guid.NewGuid();
                    for (var attempt = 1; ; attempt++)
                    {
                        try
                        {
                            await store.AppendAsync(stream, "durable", ExpectedVersion.Any, [e], Ct);
                            acknowledged.Add(e.Id);
                            break;
                        }
                        catch (NpgsqlException) when (attempt < 20)
                        {
                            // a pooled connection from before the restart: the next attempt opens a fresh one
                        }
                    }
                }
            }

            async Task CaughtUpAsync()
            {
                await Eventually.WaitAsync(
                    async () =>
                    {
                        try
                        {
                            using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                            bound.CancelAfter(TimeSpan.FromSeconds(5));
                            await subscriptions.WaitForCaughtUpAsync("durable", bound.Token);
                            return true;
                        }
                        catch (Exception e) when (e is NpgsqlException or OperationCanceledException && !Ct.IsCancellationRequested)
                        {
                            return false;
                        }
                    },
                    ok => ok,
                    "the subscription caught up",
                    TimeSpan.FromSeconds(60));
            }

            await AppendAsync(30);
            await CaughtUpAsync();

            // Every connection of the host is killed: the member's pooled connections and the shared listener.
            Assert.True(await ScalarAsync<long>(server, "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = 'pliers-named-sub'") >= 1);
            await AppendAsync(30);
            await CaughtUpAsync();

            await server.RestartAsync(Ct);
            await AppendAsync(30);
            await CaughtUpAsync();

            foreach (var h in hosted.Reverse())
            {
                await h.StopAsync(Ct);
            }

            var delivered = handled.ToArray();
            Assert.Equal(acknowledged, delivered.Distinct());
            TestContext.Current.TestOutputHelper?.WriteLine($"acknowledged {acknowledged.Count}, deliveries {delivered.Length}");
        }
    }

    private sealed class Handler(System.Collections.Concurrent.ConcurrentQueue<Guid> handled) : Pliers.Data.Subscriptions.ISubscriptionHandler
    {
        public Task HandleAsync(StoredEvent @event, Pliers.Data.Subscriptions.SubscriptionContext context, CancellationToken cancellationToken)
        {
            handled.Enqueue(@event.Id);
            return Task.CompletedTask;
        }
    }

    private static async Task<T> ScalarAsync<T>(TestPostgres server, string sql)
    {
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }
}
