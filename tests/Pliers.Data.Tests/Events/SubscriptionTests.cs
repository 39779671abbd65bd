using System.Collections.Concurrent;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Subscriptions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Events;

/// <summary>
/// Durable named subscriptions (issue 15): checkpoints, start positions, the transactional variant, poison events,
/// consumer groups and the health check, each against the real server with members run as hosted services.
/// </summary>
public sealed class SubscriptionTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    /// <summary>What the members logged, shown when a wait fails.</summary>
    private readonly Pliers.Data.Tests.Samples.RecordingLoggerProvider _logs = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private IEventStore Store => _host.Services.GetRequiredService<IEventStore>();

    private ISubscriptionStore Subscriptions => _host.Services.GetRequiredService<ISubscriptionStore>();

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>
    /// Appends and waits until global readers can see the appends (other test classes' transactions hold the horizon
    /// back now and then), so that "caught up" afterwards includes them.
    /// </summary>
    private async Task<List<Guid>> AppendAsync(int count, string type = "thing.happened", Func<int, string>? data = null, Guid? stream = null)
    {
        var ids = new List<Guid>();
        var last = GlobalPosition.Start;
        for (var i = 0; i < count; i++)
        {
            var e = NewEvent.FromJson(type, data?.Invoke(i) ?? $$"""{"n": {{i}}}""");
            var result = await Store.AppendAsync(stream ?? Guid.NewGuid(), "thing", ExpectedVersion.Any, [e], Ct);
            ids.Add(e.Id);
            last = new GlobalPosition(result.TransactionId, result.Positions[^1]);
        }

        await Eventually.WaitAsync(() => Store.GetHeadPositionAsync(Ct), head => head >= last, "the appends visible to global readers");
        return ids;
    }

    /// <summary>Starts a host that runs one member of <paramref name="name"/> with <paramref name="handler"/>.</summary>
    private async Task<Member> StartMemberAsync<THandler>(string name, THandler handler, Action<SubscriptionOptions>? configure = null, Action<PliersDataOptions>? data = null, string? connectionString = null)
        where THandler : class, ISubscriptionHandler
    {
        var services = new ServiceCollection()
            .AddLogging(b => b.Services.AddSingleton<Microsoft.Extensions.Logging.ILoggerProvider>(_logs))
            .AddPliersData(o =>
            {
                o.ConnectionString = connectionString ?? postgres.ConnectionString;
                o.Schema = _host.Schema;
                data?.Invoke(o);
            })
            .AddSingleton(handler)
            .AddPliersSubscription<THandler>(name, configure)
            .BuildServiceProvider();
        var hosted = services.GetServices<IHostedService>().ToArray();
        foreach (var service in hosted)
        {
            await service.StartAsync(Ct);
        }

        return new Member(services, hosted.OfType<PliersSubscriptionService<THandler>>().Single().Member!);
    }

    [Fact]
    public async Task A_named_subscription_delivers_every_event_once_in_order_and_resumes_from_its_checkpoint()
    {
        var first = await AppendAsync(50);
        var handler = new Recorder();
        await using (var member = await StartMemberAsync("orders", handler))
        {
            await CaughtUpAsync("orders");
            Assert.Equal(first, handler.Ids);
            var info = Assert.Single(await Subscriptions.ListAsync(Ct));
            Assert.Equal("orders", info.Name);
            Assert.Equal(await Store.GetHeadPositionAsync(Ct), Assert.Single(info.Partitions).Checkpoint);
            Assert.Equal(member.Id, info.Partitions[0].Owner);
            Assert.Equal(TimeSpan.Zero, info.Lag);
        }

        // Stopped gracefully: the checkpoint is stored and the lease given back; a new host continues after it.
        var second = await AppendAsync(20);
        var next = new Recorder();
        await using (await StartMemberAsync("orders", next))
        {
            await CaughtUpAsync("orders");
        }

        Assert.Equal(second, next.Ids);
        Assert.Equal(first.Concat(second), handler.Ids.Concat(next.Ids));
    }

    [Fact]
    public async Task A_batch_that_takes_longer_than_the_lease_keeps_its_partition_and_hands_each_event_out_once()
    {
        var ids = await AppendAsync(40);
        var handler = new Recorder { Delay = TimeSpan.FromMilliseconds(40) };
        await using var member = await StartMemberAsync("slow", handler, o =>
        {
            o.LeaseDuration = TimeSpan.FromMilliseconds(600); // a batch of 40 takes ~1.6 s: the leases are renewed inside it
            o.BatchSize = 40;
        });
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        await Subscriptions.WaitForCaughtUpAsync("slow", bound.Token);
        Assert.Equal(ids, handler.Ids);
    }

    [Fact]
    public async Task Start_from_now_or_after_a_position_and_the_head_is_readable()
    {
        Assert.Equal(GlobalPosition.Start, await Store.GetHeadPositionAsync(Ct));
        var before = await AppendAsync(10);
        var all = await TestJson.ToListAsync(Store.ReadAllAsync(GlobalPosition.Start, 100, null, Ct));
        Assert.Equal(before, all.Select(e => e.Id));
        Assert.Equal(all[^1].GlobalPosition, await Store.GetHeadPositionAsync(Ct));

        var fromNow = new Recorder();
        var fromSeventh = new Recorder();
        await using var now = await StartMemberAsync("from-now", fromNow, o => o.StartFrom = SubscriptionStart.Now);
        await using var after = await StartMemberAsync("after-7", fromSeventh, o => o.StartFrom = SubscriptionStart.After(all[6].GlobalPosition));
        await CaughtUpAsync("from-now");
        var later = await AppendAsync(5);
        await CaughtUpAsync("from-now");
        await CaughtUpAsync("after-7");

        Assert.Equal(later, fromNow.Ids);
        Assert.Equal(before.Skip(7).Concat(later), fromSeventh.Ids);
        Assert.Equal(SubscriptionStart.Now, SubscriptionStart.Parse("now"));
        Assert.Equal(SubscriptionStart.After(all[6].GlobalPosition), SubscriptionStart.Parse(all[6].GlobalPosition.ToString()));
    }

    [Fact]
    public async Task A_filtered_subscription_passes_over_other_events_and_is_not_reported_behind()
    {
        await AppendAsync(5, "other.thing");
        var wanted = await AppendAsync(3, "wanted.thing");
        await AppendAsync(5, "other.thing");
        var handler = new Recorder();
        await using var member = await StartMemberAsync("wanted", handler, o => o.Filter = new EventFilter { EventTypes = ["wanted.thing"] });
        await CaughtUpAsync("wanted");
        Assert.Equal(wanted, handler.Ids);
        var info = Assert.Single(await Subscriptions.ListAsync(Ct));
        Assert.Equal(await Store.GetHeadPositionAsync(Ct), info.Partitions[0].Checkpoint);
    }

    [Fact]
    public async Task The_transactional_variant_commits_projection_and_checkpoint_together_exactly_once()
    {
        // The projection lives in a schema of its own: a table nobody declared inside the Pliers schema is drift, which
        // the health checks of later tests in this class would report.
        var projection = _host.Schema + "_projection";
        await postgres.ExecuteAsync($"drop schema if exists \"{projection}\" cascade; create schema \"{projection}\"; create table \"{projection}\".projection (event_id uuid primary key, stream uuid not null)");
        var streams = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid()).ToArray();
        var ids = new List<Guid>();
        for (var i = 0; i < 60; i++)
        {
            ids.AddRange(await AppendAsync(1, stream: streams[i % 5]));
        }

        // The handler writes the projection row, then fails on the first attempt of every tenth event: its write
        // rolls back with it. The first member is killed (no checkpoint flush, no lease given back) after 25 events.
        var killAt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var handler = new ProjectionHandler(projection, failFirstAttemptEvery: 10, signalAfter: 25, killAt);
        var first = await StartMemberAsync("projection", handler, o =>
        {
            o.Transactional = true;
            o.RetryDelay = TimeSpan.FromMilliseconds(5);
            o.LeaseDuration = TimeSpan.FromSeconds(1);
        });
        await killAt.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await first.CrashAsync();

        var second = new ProjectionHandler(projection, failFirstAttemptEvery: 0, signalAfter: int.MaxValue, null);
        await using (await StartMemberAsync("projection", second, o => o.Transactional = true))
        {
            await CaughtUpAsync("projection");
        }

        var projected = (await QueryAsync<Guid>($"select event_id from \"{projection}\".projection")).ToHashSet();
        Assert.Equal(ids.ToHashSet(), projected);
        Assert.Equal(60L, (await QueryAsync<long>($"select count(*) from \"{projection}\".projection")).Single());
        await postgres.ExecuteAsync($"drop schema \"{projection}\" cascade");
        Assert.True(handler.Failures >= 2, "some first attempts failed after writing, rolled back and were retried");
    }

    [Fact]
    public async Task Poison_events_are_retried_with_backoff_then_parked_and_can_be_replayed()
    {
        var handler = new Recorder { FailWhen = e => e.Data.GetProperty("n").GetInt32() % 4 == 1 };
        var ids = await AppendAsync(8);
        await using var member = await StartMemberAsync("parking", handler, o =>
        {
            o.OnPoison = PoisonPolicy.Park;
            o.MaxAttempts = 3;
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
        });
        await CaughtUpAsync("parking");

        var parked = await Subscriptions.ListParkedAsync("parking", Ct);
        Assert.Equal([ids[1], ids[5]], parked.Select(p => p.EventId));
        Assert.All(parked, p =>
        {
            Assert.Equal(3, p.Attempts);
            Assert.Contains("InvalidOperationException: refused n=", p.Error, StringComparison.Ordinal);
            Assert.Null(p.ReplayRequestedAt);
        });
        Assert.Equal(ids.Where((_, i) => i % 4 != 1), handler.Ids);
        Assert.Equal(6, handler.Attempts.Count(a => a.Id == ids[1] || a.Id == ids[5]));
        Assert.Equal(2, Assert.Single(await Subscriptions.ListAsync(Ct)).Parked);

        // Fixed: replay one, then the rest; each leaves the table once handled.
        handler.FailWhen = _ => false;
        Assert.Equal(1, await Subscriptions.ReplayParkedAsync("parking", parked[0].Id, Ct));
        await Eventually.WaitAsync(async () => (await Subscriptions.ListParkedAsync("parking", Ct)).Count, n => n == 1, "the first parked event replayed");
        Assert.Equal(1, await Subscriptions.ReplayParkedAsync("parking", null, Ct));
        await Eventually.WaitAsync(async () => (await Subscriptions.ListParkedAsync("parking", Ct)).Count, n => n == 0, "every parked event replayed");
        Assert.Equal(ids.Where((_, i) => i % 4 != 1).Concat([ids[1], ids[5]]), handler.Ids);
        Assert.True(handler.Replays == 2);
    }

    [Fact]
    public async Task A_poison_event_with_the_stop_policy_stops_the_subscription_with_a_clear_error_until_resumed()
    {
        var handler = new Recorder { FailWhen = e => e.Data.GetProperty("n").GetInt32() == 3 };
        var ids = await AppendAsync(6);
        var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString;
                o.Schema = _host.Schema;
            });
        services.AddLogging().AddHealthChecks().AddPliersData();
        await using var checks = services.BuildServiceProvider();
        await using var member = await StartMemberAsync("stopping", handler, o =>
        {
            o.MaxAttempts = 2;
            o.RetryDelay = TimeSpan.FromMilliseconds(10);
        });

        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        var error = await Assert.ThrowsAsync<PliersDataException>(() => Subscriptions.WaitForCaughtUpAsync("stopping", bound.Token));
        Assert.Contains("'stopping' is stopped", error.Message, StringComparison.Ordinal);
        Assert.Contains(ids[3].ToString(), error.Message, StringComparison.Ordinal);
        Assert.Contains("refused n=3", error.Message, StringComparison.Ordinal);
        Assert.Equal(ids.Take(3), handler.Ids);
        var report = await checks.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct);
        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("'stopping'", report.Entries["pliers-data"].Description, StringComparison.Ordinal);

        handler.FailWhen = _ => false;
        await Subscriptions.ResumeAsync("stopping", Ct);
        await Eventually.WaitAsync(async () =>
        {
            try
            {
                await CaughtUpAsync("stopping");
                return true;
            }
            catch (PliersDataException)
            {
                return false; // the stop flag is cleared; the member notices at its next beat
            }
        }, ok => ok, "caught up after resume");
        Assert.Equal(ids, handler.Ids);
        Assert.Equal(HealthStatus.Healthy, (await checks.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Status);
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Subscriptions.ResumeAsync("no-such-subscription", Ct));
    }

    [Fact]
    public async Task The_cli_lists_parks_replays_resets_and_resumes_subscriptions()
    {
        async Task<(int Code, string Output, string Error)> CliAsync(params string[] args)
        {
            using var output = new StringWriter();
            using var error = new StringWriter();
            var code = await Pliers.Data.Cli.CliApp.RunAsync([.. args, "--connection", postgres.ConnectionString, "--schema", _host.Schema], output, error, Ct);
            return (code, output.ToString(), error.ToString());
        }

        Assert.Contains("no subscriptions", (await CliAsync("subscriptions", "list")).Output, StringComparison.Ordinal);
        var handler = new Recorder { FailWhen = e => e.Data.GetProperty("n").GetInt32() == 1 };
        var ids = await AppendAsync(3);
        await using var member = await StartMemberAsync("cli-sub", handler, o =>
        {
            o.OnPoison = PoisonPolicy.Park;
            o.MaxAttempts = 1;
            o.LeaseDuration = TimeSpan.FromSeconds(1);
        });
        await CaughtUpAsync("cli-sub");

        var list = await CliAsync("subscriptions", "list");
        Assert.Equal(0, list.Code);
        Assert.Matches("cli-sub  partitions 1  members 1  lag 0.0 s  parked 1  running", list.Output);
        Assert.Contains($"owner {member.Id}", list.Output, StringComparison.Ordinal);
        var parked = await CliAsync("subscriptions", "parked", "cli-sub");
        Assert.Contains($"event {ids[1]}", parked.Output, StringComparison.Ordinal);
        Assert.Contains("refused n=1", parked.Output, StringComparison.Ordinal);
        var entry = (await Subscriptions.ListParkedAsync("cli-sub", Ct)).Single().Id;

        Assert.Equal(1, (await CliAsync("subscriptions", "replay", "cli-sub", "--id", (entry + 1000).ToString(System.Globalization.CultureInfo.InvariantCulture))).Code);
        handler.FailWhen = _ => false;
        var replay = await CliAsync("subscriptions", "replay", "cli-sub", "--id", entry.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(0, replay.Code);
        await Eventually.WaitAsync(async () => (await Subscriptions.ListParkedAsync("cli-sub", Ct)).Count, n => n == 0, "replayed through the CLI");

        Assert.Equal(0, (await CliAsync("subscriptions", "reset", "cli-sub", "--to", "start")).Code);
        await Eventually.WaitAsync(() => handler.Ids.Count >= 6, "handled again after a reset through the CLI");
        Assert.Equal(0, (await CliAsync("subscriptions", "resume", "cli-sub")).Code);

        Assert.Equal(2, (await CliAsync("subscriptions")).Code);
        Assert.Equal(2, (await CliAsync("subscriptions", "parked")).Code);
        Assert.Equal(2, (await CliAsync("subscriptions", "reset", "cli-sub")).Code);
        Assert.Equal(2, (await CliAsync("subscriptions", "reset", "cli-sub", "--to", "yesterday")).Code);
        Assert.Equal(2, (await CliAsync("subscriptions", "replay", "cli-sub", "--id", "x")).Code);
        Assert.Equal(2, (await CliAsync("subscriptions", "list", "--to", "now")).Code);
        var missing = await CliAsync("subscriptions", "resume", "no-such");
        Assert.Equal(1, missing.Code);
        Assert.Contains("No subscription is named 'no-such'", missing.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_reset_moves_the_checkpoint_of_a_running_subscription()
    {
        var ids = await AppendAsync(10);
        var handler = new Recorder();
        await using var member = await StartMemberAsync("resettable", handler, o => o.LeaseDuration = TimeSpan.FromSeconds(1));
        await CaughtUpAsync("resettable");
        Assert.Equal(ids, handler.Ids);

        await Subscriptions.ResetAsync("resettable", SubscriptionStart.Beginning, Ct);
        await Eventually.WaitAsync(() => handler.Ids.Count >= 20, "every event handled again after the reset");
        Assert.Equal(ids.Concat(ids), handler.Ids.Take(20));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => Subscriptions.ResetAsync("missing", SubscriptionStart.Now, Ct));
    }

    [Fact]
    public async Task The_health_check_names_a_subscription_that_is_behind_with_its_age()
    {
        var handler = new Recorder();
        await using (await StartMemberAsync("idle", handler))
        {
            await CaughtUpAsync("idle");
        }

        await AppendAsync(3); // nobody runs "idle" now
        var services = new ServiceCollection().AddPliersData(o =>
        {
            o.ConnectionString = postgres.ConnectionString;
            o.Schema = _host.Schema;
            o.SubscriptionStuckAfter = TimeSpan.FromMilliseconds(200);
        });
        services.AddLogging().AddHealthChecks().AddPliersData();
        await using var checks = services.BuildServiceProvider();
        var report = await Eventually.WaitAsync(
            () => checks.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct),
            r => r.Status == HealthStatus.Degraded,
            "the idle subscription reported as stuck");
        Assert.Matches("'idle' [0-9]+ s behind \\(0 live member\\(s\\)\\)", report.Entries["pliers-data"].Description);
        Assert.True((await Subscriptions.ListAsync(Ct)).Single().Lag > TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task Bad_names_and_options_are_refused_at_registration_and_a_changed_partition_count_ends_the_member()
    {
        var services = new ServiceCollection().AddPliersData(o => o.ConnectionString = postgres.ConnectionString);
        Assert.Throws<ArgumentException>(() => services.AddPliersSubscription<Recorder>(" padded"));
        Assert.Throws<ArgumentException>(() => services.AddPliersSubscription<Recorder>(new string('x', 201)));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddPliersSubscription<Recorder>("p", o => o.Partitions = 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddPliersSubscription<Recorder>("p", o => o.Partitions = 1025));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddPliersSubscription<Recorder>("p", o => o.LeaseDuration = TimeSpan.FromMilliseconds(10)));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddPliersSubscription<Recorder>("p", o => o.MaxAttempts = 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => services.AddPliersSubscription<Recorder>("p", o => o.BatchSize = 0));

        await using (var four = await StartMemberAsync("fixed", new Recorder(), o => o.Partitions = 4))
        {
            await CaughtUpAsync("fixed");
        }

        await using var eight = await StartMemberAsync("fixed", new Recorder(), o => o.Partitions = 8);
        await eight.Completion.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(4, (await Subscriptions.ListAsync(Ct)).Single().Partitions.Count);
    }

    /// <summary>
    /// A consumer group under load: three members share eight partitions while eight writers append to their own
    /// streams; one member dies (no checkpoint, no lease given back), another joins. Per stream the versions arrive in
    /// order at each member, two live members never handle one stream at the same time, the dead member's share is
    /// taken over within a bounded time, and every event is handled (a few twice: at-least-once across the death).
    /// </summary>
    [Fact]
    public async Task A_consumer_group_shares_streams_keeps_order_and_takes_over_from_a_dead_member()
    {
        var lease = TimeSpan.FromSeconds(1.5);
        var handler = new GroupRecorder();
        void Group(SubscriptionOptions o)
        {
            o.Partitions = 8;
            o.LeaseDuration = lease;
            o.BatchSize = 50;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var appended = new ConcurrentBag<Guid>();
        var positions = new ConcurrentBag<GlobalPosition>();
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var streams = Enumerable.Range(0, 5).Select(_ => Guid.NewGuid()).ToArray();
            var versions = new int[5];
            var i = 0;
            while (!stop.IsCancellationRequested)
            {
                var s = i++ % 5;
                var e = NewEvent.FromJson("group.tick", $$"""{"writer": {{w}}}""");
                var result = await Store.AppendAsync(streams[s], "grouped", versions[s], [e], CancellationToken.None);
                versions[s]++;
                appended.Add(e.Id);
                positions.Add(new GlobalPosition(result.TransactionId, result.Positions[0]));
            }
        }, Ct)).ToArray();

        var a = await StartMemberAsync("group", handler.For("a"), Group);
        var b = await StartMemberAsync("group", handler.For("b"), Group);
        var c = await StartMemberAsync("group", handler.For("c"), Group);
        try
        {
            Log("members started");
            await Eventually.WaitAsync(() => a.Owned.Length > 0 && b.Owned.Length > 0 && c.Owned.Length > 0 && a.Owned.Length + b.Owned.Length + c.Owned.Length == 8, "three members sharing eight partitions");
            await Eventually.WaitAsync(() => handler.HandledBy("b") >= 20, "member b handled events");

            Log($"b handled; owned a={string.Join(",", a.Owned)} b={string.Join(",", b.Owned)} c={string.Join(",", c.Owned)}");
            var dead = b.Owned;
            await b.CrashAsync();
            var diedAt = System.Diagnostics.Stopwatch.StartNew();
            await Eventually.WaitAsync(() => dead.All(p => a.Owned.Contains(p) || c.Owned.Contains(p)), "the dead member's partitions taken over", TimeSpan.FromSeconds(20));
            var takeover = diedAt.Elapsed;
            Log($"taken over after {takeover}");
            Assert.True(takeover < lease * 3, $"taken over after {takeover.TotalSeconds:F1} s (lease {lease.TotalSeconds} s)");

            var d = await StartMemberAsync("group", handler.For("d"), Group);
            await using (d)
            {
                await Eventually.WaitAsync(() => d.Owned.Length > 0, "a joining member gets a share");
                await Eventually.WaitAsync(() => handler.HandledBy("d") >= 20, "member d handled events");
                Log("d handled");
                await stop.CancelAsync();
                await Task.WhenAll(writers);
                var last = positions.Max();
                await Eventually.WaitAsync(() => Store.GetHeadPositionAsync(Ct), head => head >= last, "the appends visible to global readers");
                Log("writers stopped");
                await CaughtUpAsync("group");
                Log("caught up");
            }
        }
        finally
        {
            await stop.CancelAsync();
            await a.DisposeAsync();
            await c.DisposeAsync();
            await b.DisposeAsync();
        }

        Assert.Empty(handler.Overlaps);
        Assert.Empty(handler.OutOfOrder);
        var handled = handler.Deliveries.Select(x => x.Id).ToHashSet();
        Assert.All(appended, id => Assert.Contains(id, handled));
        var twice = handler.Deliveries.Count - handled.Count;
        TestContext.Current.TestOutputHelper?.WriteLine($"appended {appended.Count}, deliveries {handler.Deliveries.Count}, handled twice {twice}, takeover bound {lease * 3}");
        Assert.True(twice <= 8 * 50 * 2, $"{twice} events handled twice: more than the dead member's unstored batches");
    }

    /// <summary>Waits (60 s at most) until the subscription caught up: a hang becomes a failure that names it.</summary>
    private async Task CaughtUpAsync(string name)
    {
        using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        bound.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await Subscriptions.WaitForCaughtUpAsync(name, bound.Token);
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            var info = (await Subscriptions.ListAsync(Ct)).SingleOrDefault(i => i.Name == name);
            Assert.Fail($"{string.Join("\n", _logs.Entries.Where(e => e.Category.StartsWith("Pliers", StringComparison.Ordinal)).TakeLast(40).Select(e => $"{e.Level} {e.Message}"))}\n'{name}' did not catch up within 60 s: {(info is null ? "not registered" : string.Join(", ", info.Partitions.Select(p => $"{p.Partition}@{p.Checkpoint} owner {p.Owner}")) + $" lag {info.Lag}, stopped {info.StoppedAt}, error {info.LastError}")}");
        }
    }

    private static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");

    private async Task<IEnumerable<T>> QueryAsync<T>(string sql)
    {
        await using var connection = await postgres.OpenAsync();
        return await connection.QueryAsync<T>(sql);
    }

    /// <summary>A member's host: started hosted services, a crash that gives nothing back, a graceful dispose.</summary>
    private sealed class Member(ServiceProvider services, SubscriptionMember member) : IAsyncDisposable
    {
        private bool _gone;

        public string Id => member.Member;

        public int[] Owned => member.Owned;

        /// <summary>Completes when the member ended by itself (a configuration it cannot run with).</summary>
        public Task Completion => Eventually.WaitAsync(() => !SubscriptionMember.Running.ContainsKey(member), "the member ended", TimeSpan.FromSeconds(30));

        public async Task CrashAsync()
        {
            _gone = true;
            member.Abandon();
            await services.DisposeAsync();
        }

        public async ValueTask DisposeAsync()
        {
            if (_gone)
            {
                return;
            }

            _gone = true;
            foreach (var hosted in services.GetServices<IHostedService>().Reverse())
            {
                await hosted.StopAsync(CancellationToken.None);
            }

            await services.DisposeAsync();
        }
    }

    /// <summary>Records deliveries; fails events <see cref="FailWhen"/> picks.</summary>
    private sealed class Recorder : ISubscriptionHandler
    {
        private readonly ConcurrentQueue<Guid> _ids = new();

        public Func<StoredEvent, bool> FailWhen { get; set; } = _ => false;

        public TimeSpan Delay { get; init; }

        public ConcurrentQueue<(Guid Id, int Attempt)> Attempts { get; } = new();

        public List<Guid> Ids => [.. _ids];

        public int Replays;

        public async Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken)
        {
            if (Delay > TimeSpan.Zero)
            {
                await Task.Delay(Delay, cancellationToken); // a handler doing slow work
            }

            Attempts.Enqueue((@event.Id, context.Attempt));
            if (FailWhen(@event))
            {
                throw new InvalidOperationException($"refused n={@event.Data.GetProperty("n").GetInt32()}");
            }

            if (context.IsReplay)
            {
                Interlocked.Increment(ref Replays);
            }

            _ids.Enqueue(@event.Id);
        }
    }

    /// <summary>Writes a projection row in the subscription's transaction; fails some first attempts after writing.</summary>
    private sealed class ProjectionHandler(string schema, int failFirstAttemptEvery, int signalAfter, TaskCompletionSource? reached) : ISubscriptionHandler
    {
        private int _seen;
        public int Failures;
        public int Committed;

        public async Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken)
        {
            Assert.NotNull(context.Transaction);
            await context.Connection!.ExecuteAsync(
                new CommandDefinition($"insert into \"{schema}\".projection (event_id, stream) values (@id, @stream)", new { id = @event.Id, stream = @event.AggregateId }, context.Transaction, cancellationToken: cancellationToken));
            var n = Interlocked.Increment(ref _seen);
            if (failFirstAttemptEvery > 0 && context.Attempt == 1 && n % failFirstAttemptEvery == 0)
            {
                Interlocked.Increment(ref Failures);
                throw new InvalidOperationException("fails after writing: the row must roll back");
            }

            // Counted as committed when the subscription commits right after the handler (no failure can follow).
            Interlocked.Increment(ref Committed);
            if (Committed == signalAfter)
            {
                reached?.TrySetResult();
            }
        }
    }

    /// <summary>Records group deliveries and checks the group's promises while they happen.</summary>
    private sealed class GroupRecorder
    {
        private readonly ConcurrentDictionary<Guid, string> _busy = new();
        private readonly ConcurrentDictionary<(string Member, Guid Stream), long> _last = new();

        public ConcurrentQueue<(string Member, Guid Id)> Deliveries { get; } = new();

        public ConcurrentQueue<string> Overlaps { get; } = new();

        public ConcurrentQueue<string> OutOfOrder { get; } = new();

        public int HandledBy(string member) => Deliveries.Count(d => d.Member == member);

        public ISubscriptionHandler For(string member) => new Handler(this, member);

        private sealed class Handler(GroupRecorder recorder, string member) : ISubscriptionHandler
        {
            public async Task HandleAsync(StoredEvent @event, SubscriptionContext context, CancellationToken cancellationToken)
            {
                if (!recorder._busy.TryAdd(@event.AggregateId, member))
                {
                    recorder.Overlaps.Enqueue($"{member} and {recorder._busy.GetValueOrDefault(@event.AggregateId)} on {@event.AggregateId}");
                }

                try
                {
                    var key = (member, @event.AggregateId);
                    var last = recorder._last.GetValueOrDefault(key);
                    if (@event.EventVersion <= last)
                    {
                        recorder.OutOfOrder.Enqueue($"{member}: {@event.AggregateId} v{@event.EventVersion} after v{last}");
                    }

                    recorder._last[key] = @event.EventVersion;
                    recorder.Deliveries.Enqueue((member, @event.Id));
                    await Task.Yield();
                }
                finally
                {
                    recorder._busy.TryRemove(new KeyValuePair<Guid, string>(@event.AggregateId, member));
                }
            }
        }
    }
}
