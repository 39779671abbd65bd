// Pliers.Data quickstart: migrate, create and publish a form, submit valid and invalid data, query, and read
// the event history. Uses $PLIERS_CONNECTION when set; otherwise starts a throwaway local PostgreSQL and
// removes it at the end.
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Testing;

var connectionString = Environment.GetEnvironmentVariable("PLIERS_CONNECTION");
await using var throwaway = string.IsNullOrWhiteSpace(connectionString)
    ? await TestPostgres.StartAsync(new TestPostgresOptions { Log = Console.Out, ConnectionStringVariable = "PLIERS_CONNECTION" })
    : null;
connectionString ??= throwaway!.ConnectionString;

await using var services = new ServiceCollection()
    .AddPliersData(options =>
    {
        options.ConnectionString = connectionString;
        options.Schema = "pliers";
    })
    .BuildServiceProvider();

// 1. Migrate (safe from every host at start-up: an advisory lock makes them take turns).
var migration = await services.MigratePliersDatabaseAsync();
Console.WriteLine(migration.Applied.Count == 0
    ? $"Schema '{migration.Schema}' was already at version {migration.ToVersion}."
    : $"Migrated schema '{migration.Schema}' to version {migration.ToVersion} in {migration.Elapsed.TotalMilliseconds:F0} ms ({migration.Applied.Count} migrations).");
var drift = await services.VerifyPliersDatabaseAsync();
Console.WriteLine(drift.IsMatch ? "The live schema matches the migrations." : $"Schema drift: {string.Join("; ", drift.Differences)}");

// 2. Create and publish a form whose definition carries a JSON Schema for its submissions.
var forms = services.GetRequiredService<IFormDefinitionRepository>();
var name = "support-request-" + Guid.NewGuid().ToString("N")[..6];
var flow = new EventContext(CorrelationId: Guid.NewGuid());
var draft = await forms.CreateAsync(name, Json("""
    {
      "fields": [{"name": "title", "label": "What happened?"}, {"name": "priority", "label": "Priority"}],
      "schema": {
        "type": "object",
        "required": ["title", "email", "priority"],
        "additionalProperties": false,
        "properties": {
          "title": {"type": "string", "minLength": 3, "maxLength": 120},
          "email": {"type": "string", "pattern": "^[^@\\s]+@[^@\\s]+$"},
          "priority": {"type": "integer", "minimum": 1, "maximum": 5},
          "details": {"type": "string", "maxLength": 2000}
        }
      }
    }
    """), flow);
var form = await forms.PublishAsync(draft.Id, flow);
Console.WriteLine($"Published form '{form.Name}' version {form.Version} ({form.Status}).");

// 3. Submit valid data, then invalid data (every error names its field).
var submissions = services.GetRequiredService<IFormSubmissionRepository>();
var submission = await submissions.CreateAsync(name, Json("""{"title": "Printer on fire", "email": "ada@example.org", "priority": 1}"""), flow);
Console.WriteLine($"Stored submission {submission.Id}: title '{submission.Title}', priority {submission.Priority}, status {submission.Status}.");
try
{
    await submissions.CreateAsync(name, Json("""{"title": "x", "email": "not-an-email", "priority": 9, "colour": "red"}"""), flow);
}
catch (PliersValidationException e)
{
    Console.WriteLine("Refused invalid submission:");
    foreach (var error in e.Errors)
    {
        Console.WriteLine($"  {(error.Path.Length == 0 ? "/" : error.Path)}  {error.Keyword}: {error.Message}");
    }
}

// 4. Move it through its workflow and query.
submission = await submissions.ChangeStatusAsync(submission.Id, submission.RowVersion, SubmissionStatus.Submitted, flow);
await submissions.CreateAsync(name, Json("""{"title": "Coffee machine empty", "email": "bo@example.org", "priority": 4}"""), flow);
var urgent = await submissions.QueryAsync(new SubmissionQuery { FormName = name, PriorityTo = 2 });
Console.WriteLine($"Urgent submissions: {string.Join(", ", urgent.Items.Select(s => $"'{s.Title}' ({s.Status})"))}; all: {await submissions.CountAsync(new SubmissionQuery { FormName = name })}.");

// 5. Read the whole business flow back from the event store.
Console.WriteLine("Event history of this flow:");
await foreach (var e in services.GetRequiredService<IEventStore>().ReadByCorrelationIdAsync(flow.CorrelationId!.Value))
{
    Console.WriteLine($"  #{e.Position}  {e.AggregateType}/{e.AggregateId.ToString()[..8]} v{e.EventVersion}  {e.EventType}");
}

return 0;

static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();
