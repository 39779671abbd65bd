using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Testing;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>
/// Failover (issue 16): a durable primary with a synchronous streaming standby; the primary is killed while four
/// writers run and the standby is promoted. Through one multi-host connection string (<c>Target Session
/// Attributes=primary</c>) the same host resumes writing on the new primary without a restart; every acknowledged
/// write is there; a reader that resumes from its checkpoint skips nothing; transaction ids keep growing.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class FailoverTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Writes_resume_on_the_promoted_standby_and_nothing_acknowledged_is_lost()
    {
        var options = new TestPostgresOptions { ConnectionStringVariable = "PLIERS_NO_SUCH_VARIABLE", UseTestcontainers = false, FastUnsafe = false, MaxConnections = 60 };
        await using var primary = await TestPostgres.StartAsync(options, Ct);
        await using var standby = await primary.StartStandbyAsync(Ct);

        // Synchronous replication: a commit is acknowledged once the standby has it.
        await using (var admin = new NpgsqlConnection(primary.ConnectionString))
        {
            await admin.OpenAsync(Ct);
            await using (var sync = new NpgsqlCommand("alter system set synchronous_standby_names = '*'", admin))
            {
                await sync.ExecuteNonQueryAsync(Ct);
            }

            await using (var reload = new NpgsqlCommand("select pg_reload_conf()", admin))
            {
                await reload.ExecuteNonQueryAsync(Ct);
            }

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (true)
            {
                await using var state = new NpgsqlCommand("select count(*) from pg_stat_replication where sync_state = 'sync'", admin);
                if ((long)(await state.ExecuteScalarAsync(Ct))! == 1)
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, "the standby did not become synchronous");
                await Task.Delay(50, Ct);
            }
        }

        var p = new NpgsqlConnectionStringBuilder(primary.ConnectionString);
        var s = new NpgsqlConnectionStringBuilder(standby.ConnectionString);
        var both = new NpgsqlConnectionStringBuilder
        {
            Host = $"{p.Host}:{p.Port},{s.Host}:{s.Port}",
            Username = "postgres",
            Password = p.Password,
            Database = "postgres",
            TargetSessionAttributes = "primary",
            HostRecheckSeconds = 1,
            Timeout = 5,
        }.ConnectionString;
        await using var services = new ServiceCollection().AddPliersData(o => o.ConnectionString = both).BuildServiceProvider();
        await services.MigratePliersDatabaseAsync(Ct);
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("failover", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["n"]}}""").RootElement, null, Ct);
        await forms.PublishAsync(draft.Id, null, Ct);
        var submissions = services.GetRequiredService<IFormSubmissionRepository>();
        var store = services.GetRequiredService<IEventStore>();

        // Four writers: each acknowledged write is remembered; a failed one is retried (the host is not restarted).
        var acknowledgedEvents = new ConcurrentDictionary<Guid, long>();
        var acknowledgedSubmissions = new ConcurrentBag<Guid>();
        var failures = 0;
        var afterPromotion = 0;
        var promoted = 0;
        var promotion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(
            async () =>
            {
                var stream = Guid.NewGuid();
                long version = 0;
                while (!stop.IsCancellationRequested)
                {
                    try
                    {
                        var appended = await store.AppendAsync(stream, "failover", version, [NewEvent.FromJson("written", $$"""{"w": {{w}}, "v": {{version + 1}}}""")], stop.Token);
                        version = appended.StreamVersion;
                        acknowledgedEvents[stream] = version;
                        acknowledgedSubmissions.Add((await submissions.CreateAsync("failover", JsonDocument.Parse($$"""{"n": {{version}}}""").RootElement, null, stop.Token)).Id);
                        if (Volatile.Read(ref promoted) == 1)
                        {
                            Interlocked.Increment(ref afterPromotion);
                        }
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        return; // the test is over; a write cut short here was never acknowledged
                    }
                    catch (Exception e) when (e is NpgsqlException or PliersDataException && !stop.IsCancellationRequested)
                    {
                        // The primary is gone or not promoted yet: wait for the promotion (or the end of the test),
                        // then read the stream's version again, since an append whose acknowledgement was lost may
                        // have committed.
                        Interlocked.Increment(ref failures);
                        await Task.WhenAny(promotion.Task, Task.Delay(Timeout.Infinite, stop.Token));
                        try
                        {
                            version = await store.GetStreamVersionAsync(stream, stop.Token);
                        }
                        catch (Exception again) when (again is NpgsqlException or PliersDataException)
                        {
                        }
                    }
                }
            },
            Ct)).ToArray();

        // A reader with its own checkpoint, before the failure.
        var positions = new List<GlobalPosition>();
        var seen = new HashSet<Guid>();
        var checkpoint = GlobalPosition.Start;
        async Task<int> CatchUpAsync()
        {
            var read = 0;
            await foreach (var e in store.ReadAllAsync(checkpoint, 10_000, null, Ct))
            {
                Assert.True(seen.Add(e.Id), $"event {e.Id} delivered twice");
                positions.Add(e.GlobalPosition);
                checkpoint = e.GlobalPosition;
                read++;
            }

            return read;
        }

        // Some load, then the primary dies mid-load and the standby is promoted.
        await Eventually.WaitAsync(() => acknowledgedSubmissions.Count >= 40, "40 writes acknowledged before the failure");

        await CatchUpAsync();
        var maxTransactionBefore = positions.Count > 0 ? positions.Max(x => x.TransactionId) : 0UL;
        await primary.KillAsync(Ct);
        await standby.PromoteAsync(Ct);
        Volatile.Write(ref promoted, 1);
        promotion.SetResult();

        // Writes resume on the new primary through the same data source (bounded wait).
        await Eventually.WaitAsync(() => Volatile.Read(ref afterPromotion) >= 40, "40 writes acknowledged after the promotion", TimeSpan.FromSeconds(60));

        await stop.CancelAsync();
        await Task.WhenAll(writers);

        // Nothing acknowledged is lost: every submission and every acknowledged event is on the new primary.
        await using var newPrimary = new NpgsqlConnection(standby.ConnectionString);
        await newPrimary.OpenAsync(Ct);
        await using (var count = new NpgsqlCommand("select count(*) from pliers.form_submissions where id = any(@ids)", newPrimary))
        {
            count.Parameters.AddWithValue("ids", acknowledgedSubmissions.ToArray());
            Assert.Equal((long)acknowledgedSubmissions.Count, (long)(await count.ExecuteScalarAsync(Ct))!);
        }

        foreach (var (stream, version) in acknowledgedEvents)
        {
            Assert.True(await store.GetStreamVersionAsync(stream, Ct) >= version, $"stream {stream} lost acknowledged events");
        }

        // The reader resumes from its checkpoint on the new primary: nothing skipped, nothing twice, the global order
        // (transaction id, position) keeps growing across the promotion.
        long total;
        await using (var events = new NpgsqlCommand("select count(*) from pliers.events", newPrimary))
        {
            total = (long)(await events.ExecuteScalarAsync(Ct))!;
        }

        await Eventually.WaitAsync(
            async () =>
            {
                await CatchUpAsync();
                return seen.Count;
            },
            count => count >= total,
            $"the reader catching up with all {total} events");

        Assert.Equal(total, seen.Count);
        Assert.True(positions.Zip(positions.Skip(1)).All(pair => pair.First.CompareTo(pair.Second) < 0), "global positions are not strictly increasing");
        Assert.True(positions.Max(x => x.TransactionId) > maxTransactionBefore, "no transaction after the promotion has a larger id");
        Assert.True(failures > 0, "the writers never saw the failure (the test did not exercise failover)");
    }
}
