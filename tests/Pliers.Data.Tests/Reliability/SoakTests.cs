using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>
/// 8 writers for 5 seconds by default (PLIERS_SOAK_SECONDS sets the length; .ci/run sets 60) of mixed appends, submissions, status changes and
/// publishes with random conflicts; afterwards every invariant holds.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class SoakTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Eight_writers_of_mixed_work_keep_every_invariant()
    {
        var seconds = int.TryParse(Environment.GetEnvironmentVariable("PLIERS_SOAK_SECONDS"), out var s) ? s : 5;
        await using var host = await PliersHost.MigratedAsync(postgres);
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var store = host.Services.GetRequiredService<IEventStore>();
        var schema = JsonDocument.Parse("""{"schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}""").RootElement;
        await forms.PublishAsync((await forms.CreateAsync("soak", schema, null, Ct)).Id, null, Ct);

        var streams = Enumerable.Range(0, 16).Select(_ => Guid.NewGuid()).ToArray();
        var ackedEvents = new ConcurrentDictionary<Guid, int>();
        var statusChanges = new ConcurrentDictionary<Guid, int>();
        var created = new ConcurrentBag<Guid>();
        long conflicts = 0, refusedMoves = 0, publishes = 0, operations = 0;
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        var race = new AsyncBarrier(8);
        var writers = Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);

            // The first operation is a forced race: all eight read the same stream version, meet at the barrier, then
            // append with it. Exactly one wins; the others must get a concurrency error.
            var raced = await store.GetStreamVersionAsync(streams[0], Ct);
            await race.SignalAndWaitAsync(Ct);
            Interlocked.Increment(ref operations);
            try
            {
                await store.AppendAsync(streams[0], "soak", raced, [NewEvent.FromJson("soak.tick", "{}")], Ct);
                ackedEvents.AddOrUpdate(streams[0], 1, (_, c) => c + 1);
            }
            catch (PliersConcurrencyException)
            {
                Interlocked.Increment(ref conflicts);
            }

            while (DateTime.UtcNow < deadline)
            {
                Interlocked.Increment(ref operations);
                try
                {
                    switch (random.Next(10))
                    {
                        case < 4:
                            var stream = streams[random.Next(streams.Length)];
                            var version = await store.GetStreamVersionAsync(stream, Ct);
                            var count = 1 + random.Next(3);
                            await store.AppendAsync(stream, "soak", version, Enumerable.Range(0, count).Select(_ => NewEvent.FromJson("soak.tick", "{}")).ToArray(), Ct);
                            ackedEvents.AddOrUpdate(stream, count, (_, c) => c + count);
                            break;
                        case < 7:
                            created.Add((await submissions.CreateAsync("soak", JsonDocument.Parse($$"""{"n": {{random.Next(1000)}}}""").RootElement, null, Ct)).Id);
                            break;
                        case < 9:
                            var ids = created.ToArray();
                            if (ids.Length == 0)
                            {
                                break;
                            }

                            var target = await submissions.GetByIdAsync(ids[random.Next(ids.Length)], Ct);
                            var next = (SubmissionStatus)random.Next(5);
                            await submissions.ChangeStatusAsync(target!.Id, target.RowVersion, next, null, Ct);
                            statusChanges.AddOrUpdate(target.Id, 1, (_, c) => c + 1);
                            break;
                        default:
                            var draft = await forms.CreateVersionAsync("soak", null, null, Ct);
                            await forms.PublishAsync(draft.Id, null, Ct);
                            Interlocked.Increment(ref publishes);
                            break;
                    }
                }
                catch (PliersConcurrencyException)
                {
                    Interlocked.Increment(ref conflicts);
                }
                catch (PliersConflictException)
                {
                    Interlocked.Increment(ref refusedMoves); // a forbidden status move, or a racing publish/version
                }
                catch (PliersNotFoundException)
                {
                    Interlocked.Increment(ref refusedMoves); // between versions: no active one for an instant is impossible, but be explicit
                }
            }
        }, Ct)).ToArray();
        await Task.WhenAll(writers);

        var events = host.Services.GetRequiredService<IEventStore>();

        // 1. Every stream holds exactly the acknowledged events, with versions 1..N.
        foreach (var stream in streams)
        {
            var versions = new List<long>();
            await foreach (var e in events.ReadStreamAsync(stream, 1, Ct))
            {
                versions.Add(e.EventVersion);
            }

            Assert.Equal(Enumerable.Range(1, versions.Count).Select(v => (long)v), versions);
            Assert.Equal(ackedEvents.GetValueOrDefault(stream), versions.Count);
        }

        // 2. Every submission's events match its row: created first, one event per successful status change, and the
        //    last status event names the row's status.
        foreach (var id in created)
        {
            var history = new List<StoredEvent>();
            await foreach (var e in events.ReadStreamAsync(id, 1, Ct))
            {
                history.Add(e);
            }

            var row = (await submissions.GetByIdAsync(id, Ct))!;
            Assert.Equal("form.submission.created", history[0].EventType);
            Assert.Equal(statusChanges.GetValueOrDefault(id), history.Count - 1);
            if (history.Count > 1)
            {
                Assert.Equal("form.submission." + row.Status.ToString().ToLowerInvariant(), history[^1].EventType);
            }
        }

        // 3. Never two active versions of one form.
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from \"{host.Schema}\".form_definitions where status = 'active'"));

        var summary = $"{seconds} s, 8 writers: {operations} operations, {ackedEvents.Values.Sum()} events appended to 16 shared streams, {created.Count} submissions, {statusChanges.Values.Sum()} status changes, {publishes} publishes, {conflicts} concurrency conflicts, {refusedMoves} refused moves";
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Console.WriteLine("Soak: " + summary);
        Assert.True(conflicts >= 7, summary); // the forced race alone makes 7
    }
}
