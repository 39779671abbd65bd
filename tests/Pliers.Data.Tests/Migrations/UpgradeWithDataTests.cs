using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Events;
using Pliers.Data.Forms;
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

        // Data written by the library at the previous version.
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("upgrade", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}""").RootElement, cancellationToken: Ct);
        await forms.PublishAsync(draft.Id, cancellationToken: Ct);
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        await submissions.BulkImportAsync("upgrade", Enumerable.Range(0, 200).Select(i => JsonDocument.Parse($$"""{"n": {{i}}}""").RootElement), cancellationToken: Ct);
        var stream = Guid.NewGuid();
        await host.Services.GetRequiredService<IEventStore>().AppendAsync(stream, "order", ExpectedVersion.NoStream, [NewEvent.FromJson("order.placed", "{}")], Ct);
        var s = $"\"{host.Schema}\"";
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
        Assert.Equal(1L, await host.Services.GetRequiredService<IEventStore>().GetStreamVersionAsync(stream, Ct));
    }
}
