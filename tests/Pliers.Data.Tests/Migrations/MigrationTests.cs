using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pliers.Data.Migrations;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Migrations;

public sealed class MigrationTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Up_from_empty_down_to_zero_and_up_again_gives_an_identical_catalog()
    {
        await using var host = PliersHost.Create(postgres);

        var first = await host.Services.MigratePliersDatabaseAsync(Ct);
        Assert.Equal(PliersMigrations.Versions, first.Applied);
        Assert.Equal(0, first.FromVersion);
        Assert.Equal(PliersMigrations.Versions[^1], first.ToVersion);
        var catalogFirst = await Catalog.ReadAsync(postgres, host.Schema);
        Assert.Contains(catalogFirst, o => o is { Kind: "table", Name: "events" });
        Assert.Contains(catalogFirst, o => o is { Kind: "index", Name: "form_definitions_one_active_per_name" });

        var down = await host.Services.RollbackPliersDatabaseAsync(0, Ct);
        Assert.Equal(PliersMigrations.Versions.Reverse(), down.Applied);
        Assert.Empty(await Catalog.ReadAsync(postgres, host.Schema));
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_namespace where nspname = '{host.Schema}'"));

        await host.Services.MigratePliersDatabaseAsync(Ct);
        var catalogSecond = await Catalog.ReadAsync(postgres, host.Schema);
        Assert.Equal(Catalog.Describe(catalogFirst), Catalog.Describe(catalogSecond));
    }

    [Fact]
    public async Task Each_migration_down_undoes_exactly_its_up()
    {
        await using var host = PliersHost.Create(postgres);
        var snapshots = new List<string> { string.Empty };
        var migrator = host.Services.GetRequiredService<PliersMigrator>();

        // Walk up one migration at a time by rolling forward to each version in turn.
        foreach (var version in PliersMigrations.Versions)
        {
            await host.Services.MigratePliersDatabaseAsync(Ct);
            await host.Services.RollbackPliersDatabaseAsync(version, Ct);
            var status = await host.Services.GetPliersMigrationStatusAsync(Ct);
            Assert.Equal(version, status.CurrentVersion);
            snapshots.Add(Catalog.Describe(await Catalog.ReadAsync(postgres, host.Schema)));
        }

        Assert.Equal(snapshots.Count, snapshots.Distinct().Count());

        // Then down one at a time: after reverting migration i the catalog is what it was at version i-1.
        for (var i = PliersMigrations.Versions.Count - 1; i >= 0; i--)
        {
            var target = i == 0 ? 0 : PliersMigrations.Versions[i - 1];
            var result = await host.Services.RollbackPliersDatabaseAsync(target, Ct);
            Assert.Equal([PliersMigrations.Versions[i]], result.Applied);
            Assert.Equal(snapshots[i], Catalog.Describe(await Catalog.ReadAsync(postgres, host.Schema)));
        }
    }

    [Fact]
    public async Task Four_migrators_started_together_apply_each_migration_once()
    {
        var schema = PostgresFixture.NewSchemaName();
        var hosts = Enumerable.Range(0, 4).Select(_ => PliersHost.Create(postgres, schema)).ToArray();
        try
        {
            using var start = new ManualResetEventSlim();
            var runs = hosts.Select(h => Task.Run(
                async () =>
                {
                    start.Wait(Ct);
                    return await h.Services.MigratePliersDatabaseAsync(Ct);
                },
                Ct)).ToArray();
            start.Set();
            var results = await Task.WhenAll(runs);

            Assert.Equal(PliersMigrations.Versions.Count, results.Sum(r => r.Applied.Count));
            Assert.All(results, r => Assert.Equal(PliersMigrations.Versions[^1], r.ToVersion));
            Assert.Equal(
                (long)PliersMigrations.Versions.Count,
                await postgres.ScalarAsync<long>($"select count(*) from \"{schema}\".version_info"));
            Assert.Equal(
                (long)PliersMigrations.Versions.Count,
                await postgres.ScalarAsync<long>($"select count(distinct version) from \"{schema}\".version_info"));
            Assert.True((await hosts[0].Services.VerifyPliersDatabaseAsync(Ct)).IsMatch);
        }
        finally
        {
            foreach (var host in hosts)
            {
                await host.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Migrating_twice_applies_nothing_the_second_time()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var again = await host.Services.MigratePliersDatabaseAsync(Ct);
        Assert.Empty(again.Applied);
        Assert.Equal(again.FromVersion, again.ToVersion);
    }

    [Fact]
    public async Task Status_lists_applied_and_pending_migrations()
    {
        await using var host = PliersHost.Create(postgres);
        var empty = await host.Services.GetPliersMigrationStatusAsync(Ct);
        Assert.Equal(host.Schema, empty.Schema);
        Assert.Equal(0, empty.CurrentVersion);
        Assert.Equal(PliersMigrations.Versions, empty.Pending.Select(m => m.Version));

        await host.Services.MigratePliersDatabaseAsync(Ct);
        await host.Services.RollbackPliersDatabaseAsync(PliersMigrations.Versions[0], Ct);
        var partial = await host.Services.GetPliersMigrationStatusAsync(Ct);
        Assert.Equal(PliersMigrations.Versions[0], partial.CurrentVersion);
        Assert.True(partial.Migrations[0].IsApplied);
        Assert.Equal(PliersMigrations.Versions.Skip(1), partial.Pending.Select(m => m.Version));
        Assert.All(partial.Migrations, m => Assert.False(string.IsNullOrWhiteSpace(m.Description)));
    }

    [Fact]
    public async Task Rollback_to_an_unknown_version_is_refused_and_changes_nothing()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var error = await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => host.Services.RollbackPliersDatabaseAsync(123, Ct));
        Assert.Contains("Unknown Pliers migration version 123", error.Message, StringComparison.Ordinal);
        Assert.Empty((await host.Services.GetPliersMigrationStatusAsync(Ct)).Pending);
    }

    [Fact]
    public async Task Rollback_to_zero_keeps_a_schema_that_holds_the_hosts_own_objects()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await postgres.ExecuteAsync($"create table \"{host.Schema}\".host_table (id int)");
        await host.Services.RollbackPliersDatabaseAsync(0, Ct);
        var left = await Catalog.ReadAsync(postgres, host.Schema);
        Assert.Equal(["host_table"], left.Where(o => o.Kind == "table").Select(o => o.Name));
        Assert.DoesNotContain(left, o => o.Kind is "function" or "trigger");
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{host.Schema}' and c.relname = 'version_info'"));
    }

    [Fact]
    public async Task Verify_reports_a_match_after_migrating()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var result = await host.Services.VerifyPliersDatabaseAsync(Ct);
        Assert.True(result.IsMatch, string.Join("\n", result.Differences));
        Assert.Equal(PliersMigrations.Versions[^1], result.Version);
    }

    [Fact]
    public async Task Verify_names_a_dropped_index_an_altered_column_a_dropped_trigger_and_an_extra_object()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var s = $"\"{host.Schema}\"";
        await postgres.ExecuteAsync($"""
            drop index {s}.form_submissions_data_idx;
            alter table {s}.form_definitions alter column name type varchar(200);
            drop trigger events_no_truncate on {s}.events;
            create index rogue_idx on {s}.events (event_type);
            """);

        var result = await host.Services.VerifyPliersDatabaseAsync(Ct);

        Assert.False(result.IsMatch);
        Assert.Contains(result.Differences, d => d is { Kind: "index", Name: "form_submissions_data_idx", Change: "missing" });
        var column = Assert.Single(result.Differences, d => d is { Kind: "column", Name: "form_definitions.name" });
        Assert.Equal("changed", column.Change);
        Assert.Contains("character varying(100)", column.Expected, StringComparison.Ordinal);
        Assert.Contains("character varying(200)", column.Actual, StringComparison.Ordinal);
        Assert.Contains(result.Differences, d => d is { Kind: "trigger", Name: "events.events_no_truncate", Change: "missing" });
        Assert.Contains(result.Differences, d => d is { Kind: "index", Name: "rogue_idx", Change: "unexpected" });
        Assert.Equal(4, result.Differences.Count);
    }

    [Fact]
    public async Task Verify_leaves_no_scratch_schema_behind()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await host.Services.VerifyPliersDatabaseAsync(Ct);
        Assert.Equal(0L, await postgres.ScalarAsync<long>("select count(*) from pg_namespace where nspname like 'pliers_verify_%'"));
    }

    [Theory]
    [InlineData("pliers; drop table x")]
    [InlineData("Pliers")]
    [InlineData("pg_pliers")]
    [InlineData("public")]
    [InlineData("")]
    [InlineData("1abc")]
    public void A_hostile_or_invalid_schema_name_is_refused_at_start_up(string schema)
    {
        using var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString;
                o.Schema = schema;
            })
            .BuildServiceProvider();
        var error = Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IOptions<PliersDataOptions>>().Value);
        Assert.Contains("PliersDataOptions.Schema", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_lock_key_is_stable_and_differs_per_schema()
    {
        Assert.Equal(PliersMigrator.LockKey("pliers"), PliersMigrator.LockKey("pliers"));
        Assert.NotEqual(PliersMigrator.LockKey("pliers"), PliersMigrator.LockKey("pliers2"));
    }
}
