using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Forms;

public sealed record Intake(string Email, int Age);

[JsonSerializable(typeof(Intake))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
public sealed partial class IntakeJson : JsonSerializerContext;

/// <summary>The typed surface a host uses without reading the source: no positional nulls, .NET objects in and out, the library's own events as public records.</summary>
public sealed class TypedApiTests(MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Objects_go_in_and_come_out_typed_and_the_library_s_events_read_as_its_public_records()
    {
        var forms = _host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = _host.Services.GetRequiredService<IFormSubmissionRepository>();
        var store = _host.Services.GetRequiredService<IEventStore>();

        // No context, no positional null: the CancellationToken overloads.
        var draft = await forms.CreateAsync("intake", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["email", "age"], "properties": {"email": {"type": "string"}, "age": {"type": "integer"}}}}""").RootElement, Ct);
        var v1 = await forms.PublishAsync(draft.Id, Ct);
        var v2 = await forms.PublishAsync((await forms.CreateVersionAsync("intake", Ct)).Id, Ct);

        // A .NET object in (camelCase web defaults; and with source-generated metadata), the same object out.
        var reflection = await submissions.CreateAsync("intake", new Intake("ada@example.org", 36), cancellationToken: Ct);
        var generated = await submissions.CreateAsync("intake", new Intake("alan@example.org", 41), IntakeJson.Default.Intake, cancellationToken: Ct);
        Assert.Equal("ada@example.org", reflection.Data.GetProperty("email").GetString());
        Assert.Equal(new Intake("ada@example.org", 36), reflection.GetData<Intake>());
        Assert.Equal(new Intake("alan@example.org", 41), generated.GetData(IntakeJson.Default.Intake));
        var invalid = await Assert.ThrowsAsync<PliersValidationException>(() => submissions.CreateAsync("intake", new { Email = "x" }, cancellationToken: Ct));
        Assert.Contains(invalid.Errors, e => e.Keyword == "required");
        var moved = await submissions.ChangeStatusAsync(reflection.Id, reflection.RowVersion, SubmissionStatus.Submitted, Ct);

        // The library's own events: public type constants, camelCase payloads that read back as the public records.
        var definitionEvents = await TestJson.ToListAsync(store.ReadStreamAsync(v1.Id, 1, Ct));
        Assert.Equal([PliersEventTypes.DefinitionCreated, PliersEventTypes.DefinitionPublished, PliersEventTypes.DefinitionDeprecated], definitionEvents.Select(e => e.EventType));
        Assert.All(definitionEvents, e => Assert.Equal(PliersAggregateTypes.FormDefinition, e.AggregateType));
        Assert.Equal("intake", definitionEvents[0].Data.GetProperty("name").GetString());
        Assert.Equal(new FormDefinitionChanged("intake", 1), definitionEvents[0].GetData<FormDefinitionChanged>());
        Assert.Equal(new FormDefinitionPublished("intake", 1, null), definitionEvents[1].GetData<FormDefinitionPublished>());
        Assert.Equal(new FormDefinitionDeprecated("intake", 1, 2), definitionEvents[2].GetData<FormDefinitionDeprecated>());

        var submissionEvents = await TestJson.ToListAsync(store.ReadStreamAsync(moved.Id, 1, Ct));
        Assert.Equal([PliersEventTypes.SubmissionCreated, PliersEventTypes.SubmissionSubmitted], submissionEvents.Select(e => e.EventType));
        Assert.Equal(new FormSubmissionCreated(v2.Id, 2, "intake", false), submissionEvents[0].GetData<FormSubmissionCreated>());
        Assert.Equal(new FormSubmissionStatusChanged("draft", "submitted"), submissionEvents[1].GetData<FormSubmissionStatusChanged>());
        Assert.True(submissionEvents[1].Data.TryGetProperty("from", out _), "camelCase like the rest of the API's JSON");
    }
}
