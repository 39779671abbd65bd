using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Cli;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Testing;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Testing;

public sealed class PliersResetTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task FillAsync(IServiceProvider services, int submissions)
    {
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("reset", JsonDocument.Parse("""{"schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}""").RootElement, cancellationToken: Ct);
        await forms.PublishAsync(draft.Id, cancellationToken: Ct);
        await services.GetRequiredService<IFormSubmissionRepository>()
            .BulkImportAsync("reset", Enumerable.Range(0, submissions).Select(i => JsonDocument.Parse($$"""{"n": {{i}}}""").RootElement), cancellationToken: Ct);
        await services.GetRequiredService<IEventStore>().AppendAsync(Guid.NewGuid(), "order", ExpectedVersion.NoStream, [NewEvent.FromJson("order.placed", "{}")], Ct);
    }

    private async Task<long> RowsAsync(string schema) =>
        await postgres.ScalarAsync<long>($"select (select count(*) from \"{schema}\".form_definitions) + (select count(*) from \"{schema}\".form_submissions) + (select count(*) from \"{schema}\".events)");

    [Fact]
    public async Task Reset_empties_every_pliers_table_events_included_and_keeps_the_schema_working()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await FillAsync(host.Services, 3000);
        Assert.True(await RowsAsync(host.Schema) > 6000);
        var migrated = await host.Services.GetPliersMigrationStatusAsync(Ct);

        var emptied = await host.Services.ResetPliersDataAsync(Ct);

        Assert.Equal(7, emptied); // definitions, submissions, revisions, events, and the three subscription tables
        Assert.Equal(0L, await RowsAsync(host.Schema));
        Assert.Equal(migrated.CurrentVersion, (await host.Services.GetPliersMigrationStatusAsync(Ct)).CurrentVersion);

        // The append-only rule is back in force after the reset, for everyone.
        var refused = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($"truncate \"{host.Schema}\".events"));
        Assert.Equal("events_append_only", refused.ConstraintName);

        // And the same names work again: a host's next test starts from a clean store.
        await FillAsync(host.Services, 10);
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select min(position) from \"{host.Schema}\".events"));
    }

    [Fact]
    public async Task The_application_role_cannot_reset()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await FillAsync(host.Services, 5);
        var role = "app_" + Guid.NewGuid().ToString("N")[..12];
        await postgres.ExecuteAsync($"create role {role} login password 'app-pw'");
        try
        {
            Assert.Equal(0, await CliApp.RunAsync(["grant", "--role", role, "--connection", postgres.ConnectionString, "--schema", host.Schema], TextWriter.Null, TextWriter.Null, Ct));
            var asApp = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = role, Password = "app-pw" }.ConnectionString;

            var error = await Assert.ThrowsAsync<PostgresException>(() => PliersReset.ResetAsync(asApp, host.Schema, Ct));

            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
            Assert.True(await RowsAsync(host.Schema) > 0, "nothing was emptied");
        }
        finally
        {
            await postgres.ExecuteAsync($"drop owned by {role}; drop role {role}");
        }
    }

    [Theory]
    [InlineData("")]
    [InlineData("Pliers")]
    [InlineData("x; drop table y")]
    [InlineData("a\"b")]
    public async Task A_hostile_schema_name_is_refused_before_any_sql(string schema) =>
        await Assert.ThrowsAsync<ArgumentException>(() => PliersReset.ResetAsync(postgres.ConnectionString, schema, Ct));
}
