using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Cli;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>An application role granted by <c>pliers-data grant</c> can do everything the library does, and no more.</summary>
[Trait("Category", "Reliability")]
public sealed class LeastPrivilegeTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_granted_role_runs_every_library_operation_and_is_refused_the_rest()
    {
        var role = "app_" + Guid.NewGuid().ToString("N")[..10];
        var password = Guid.NewGuid().ToString("N");
        await using var owner = await PliersHost.MigratedAsync(postgres); // migrations run as the owner
        await postgres.ExecuteAsync($"create role {role} login password '{password}'");
        try
        {
            using (var output = new StringWriter())
            {
                Assert.Equal(0, await CliApp.RunAsync(["grant", "--role", role, "--connection", postgres.ConnectionString, "--schema", owner.Schema], output, TextWriter.Null, Ct));
            }

            var app = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = role, Password = password }.ConnectionString;
            await using var services = new ServiceCollection()
                .AddPliersData(o =>
                {
                    o.ConnectionString = app;
                    o.Schema = owner.Schema;
                })
                .BuildServiceProvider();

            // Everything the library does works.
            var forms = services.GetRequiredService<IFormDefinitionRepository>();
            var draft = await forms.CreateAsync("least", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["a"]}}""").RootElement, null, Ct);
            draft = await forms.UpdateDraftAsync(draft.Id, draft.RowVersion, JsonDocument.Parse("""{"schema": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}}}""").RootElement, null, Ct);
            await forms.PublishAsync(draft.Id, null, Ct);
            var submissions = services.GetRequiredService<IFormSubmissionRepository>();
            var submission = await submissions.CreateAsync("least", JsonDocument.Parse("""{"a": 1}""").RootElement, null, Ct);
            submission = await submissions.UpdateDataAsync(submission.Id, submission.RowVersion, JsonDocument.Parse("""{"a": 2}""").RootElement, null, Ct);
            await submissions.ChangeStatusAsync(submission.Id, submission.RowVersion, SubmissionStatus.Submitted, null, Ct);
            await submissions.BulkImportAsync("least", [JsonDocument.Parse("""{"a": 3}""").RootElement], null, Ct);
            Assert.Equal(2L, await submissions.CountAsync(new SubmissionQuery { FormName = "least" }, Ct));
            await Assert.ThrowsAsync<PliersValidationException>(() => submissions.CreateAsync("least", JsonDocument.Parse("""{"a": "x"}""").RootElement, null, Ct));
            var store = services.GetRequiredService<IEventStore>();
            var stream = Guid.NewGuid();
            await store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}")], Ct);
            var read = 0;
            await foreach (var e in store.ReadStreamAsync(submission.Id, 1, Ct))
            {
                read++;
            }

            Assert.Equal(3, read);
            Assert.Empty((await services.GetPliersMigrationStatusAsync(Ct)).Pending);

            // ... and nothing else.
            await using var connection = new NpgsqlConnection(app);
            await connection.OpenAsync(Ct);
            async Task<PostgresException> RefusedAsync(string sql)
            {
                await using var command = new NpgsqlCommand(sql, connection);
                return await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync(Ct));
            }

            var s = $"\"{owner.Schema}\"";
            foreach (var sql in new[]
                     {
                         $"update {s}.events set event_type = 'x'",
                         $"delete from {s}.events",
                         $"truncate {s}.events",
                         $"create table {s}.intruder (id int)",
                         $"drop table {s}.form_submissions",
                         $"alter table {s}.events disable trigger events_append_only",
                         $"insert into {s}.version_info (version, applied_on, description) values (1, now(), 'forged')",
                         $"delete from {s}.version_info",
                     })
            {
                var error = await RefusedAsync(sql);
                Assert.True(error.SqlState is PostgresErrorCodes.InsufficientPrivilege, $"{sql}: {error.SqlState}");
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.ExecuteAsync($"drop owned by {role} cascade; drop role if exists {role}");
        }
    }
}
