using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Migrations;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Migrations;

/// <summary>Released migrations are upgraded in place: a database with data in it at each earlier version reaches the latest and comes back.</summary>
public sealed class UpgradeWithDataTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>202611251000 is the last version released before the text-column and parallel-safety migrations.</summary>
    [Theory]
    [InlineData(202611251000)]
    [InlineData(202611271000)]
    public async Task A_database_with_data_at_an_earlier_version_upgrades_keeps_every_row_and_rolls_back(long previous)
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await host.Services.RollbackPliersDatabaseAsync(previous, Ct);

        // Data as the library of the previous version wrote it (plain SQL: this release's statements name columns,
        // such as tenant_id, that the previous schema does not have).
        var s = $"\"{host.Schema}\"";
        var stream = Guid.NewGuid();
        await postgres.ExecuteAsync($$$$$"""
            insert into {{{{{s}}}}}.form_definitions (name, version, definition)
            values ('upgrade', 1, '{"schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}');
            update {{{{{s}}}}}.form_definitions set status = 'active' where name = 'upgrade';
            insert into {{{{{s}}}}}.form_submissions (form_definition_id, form_version, data, status)
            select id, 1, jsonb_build_object('n', g), 'submitted' from {{{{{s}}}}}.form_definitions, generate_series(0, 199) g where name = 'upgrade';
            insert into {{{{{s}}}}}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version)
            values (gen_random_uuid(), '{{{{{stream}}}}}', 'order', 'order.placed', '{}', 1);
            """);
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var fingerprint = $"select md5(string_agg(t::text, ',' order by t::text)) from (select id, data, status from {s}.form_submissions union all select id, definition, status from {s}.form_definitions union all select id, event_data, event_type from {s}.events) t(id, doc, kind)";
        var before = await postgres.ScalarAsync<string>(fingerprint);

        var up = await host.Services.MigratePliersDatabaseAsync(Ct);
        Assert.Equal(PliersMigrations.Versions[^1], up.ToVersion);
        Assert.Equal(before, await postgres.ScalarAsync<string>(fingerprint));
        Assert.Equal(200L, await submissions.CountAsync(new SubmissionQuery { FormName = "upgrade" }, Ct));
        Assert.Equal(200L, await postgres.ScalarAsync<long>($"select count(*) filter (where {s}.jsonb_matches_schema(d.definition -> 'schema', f.data)) from {s}.form_submissions f join {s}.form_definitions d on d.id = f.form_definition_id"));
        await submissions.CreateAsync("upgrade", JsonDocument.Parse("""{"n": 1}""").RootElement, cancellationToken: Ct);

        // Rolled back, the rows stay (read with SQL: this release's library needs the latest schema).
        await host.Services.RollbackPliersDatabaseAsync(previous, Ct);
        Assert.Equal(201L, await postgres.ScalarAsync<long>($"select count(*) from {s}.form_submissions"));
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {s}.events where aggregate_id = '{stream}'"));
    }
}
