using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Testing;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Testing;

/// <summary>The host test of docs/testing.md, as a host writes it (on the suite's server, in a schema of its own).</summary>
public sealed class HostDatabase(PostgresFixture postgres) : IAsyncLifetime
{
    public ServiceProvider Services { get; private set; } = null!;

    public string Schema { get; } = PostgresFixture.NewSchemaName("host");

    public async ValueTask InitializeAsync()
    {
        Services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = postgres.ConnectionString;
                o.Schema = Schema;
            })
            .BuildServiceProvider();
        await Services.MigratePliersDatabaseAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await Services.DisposeAsync();
        await postgres.ExecuteAsync($"drop schema if exists \"{Schema}\" cascade");
    }
}

public sealed class HostResetExampleTests(HostDatabase db) : IClassFixture<HostDatabase>, IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await db.Services.ResetPliersDataAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    // Both tests use the same form name and expect an empty store: they pass in either order only because of the reset.
    [Fact]
    public Task A_published_form_takes_submissions() => PublishAndSubmitAsync();

    [Fact]
    public Task The_same_form_name_is_free_again_in_the_next_test() => PublishAndSubmitAsync();

    private async Task PublishAndSubmitAsync()
    {
        var forms = db.Services.GetRequiredService<IFormDefinitionRepository>();
        var draft = await forms.CreateAsync("intake", JsonDocument.Parse("""{"schema": {"type": "object"}}""").RootElement);
        Assert.Equal(1, draft.Version);
        await forms.PublishAsync(draft.Id);
        var submissions = db.Services.GetRequiredService<IFormSubmissionRepository>();
        await submissions.CreateAsync("intake", JsonDocument.Parse("""{"a": 1}""").RootElement);
        Assert.Equal(1L, await submissions.CountAsync(new SubmissionQuery { FormName = "intake" }));
    }
}
