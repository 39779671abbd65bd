using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
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

    /// <summary>
    /// Two roles (issue 16): the owner migrates (through <c>MigrationConnectionString</c> or the CLI); the application
    /// role runs the host, its health check (pending migrations and drift, against the catalog recorded at migration
    /// time) and on-start-up migrations, which do nothing when nothing is pending and say clearly what to do when
    /// something is.
    /// </summary>
    [Fact]
    public async Task The_owner_migrates_and_the_application_role_runs_checks_and_starts()
    {
        var role = "app_" + Guid.NewGuid().ToString("N")[..10];
        var password = Guid.NewGuid().ToString("N");
        await using var owner = await PliersHost.MigratedAsync(postgres);
        await postgres.ExecuteAsync($"create role {role} login password '{password}'");
        try
        {
            Assert.Equal(0, await CliApp.RunAsync(["grant", "--role", role, "--connection", postgres.ConnectionString, "--schema", owner.Schema], TextWriter.Null, TextWriter.Null, Ct));
            var app = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = role, Password = password }.ConnectionString;
            ServiceProvider Host(string? migrationConnectionString = null) => new ServiceCollection()
                .AddLogging()
                .AddPliersData(o =>
                {
                    o.ConnectionString = app;
                    o.MigrationConnectionString = migrationConnectionString;
                    o.Schema = owner.Schema;
                })
                .AddPliersMigrationsOnStartup()
                .AddHealthChecks().AddPliersData().Services
                .BuildServiceProvider();
            static async Task StartAsync(IServiceProvider services)
            {
                foreach (var hosted in services.GetServices<IHostedService>())
                {
                    await hosted.StartAsync(Ct);
                }
            }

            static async Task<HealthReportEntry> HealthAsync(IServiceProvider services) =>
                (await services.GetRequiredService<HealthCheckService>().CheckHealthAsync(Ct)).Entries["pliers-data"];

            // Nothing pending: the application role starts with on-start-up migrations and is healthy (no scratch schema).
            await using (var services = Host())
            {
                await StartAsync(services);
                var health = await HealthAsync(services);
                Assert.True(health.Status == HealthStatus.Healthy, health.Description);
                Assert.True((await services.VerifyPliersDatabaseAsync(Ct)).IsMatch);

                // The lag metric and a subscription (LISTEN) work as the application role too.
                var store = services.GetRequiredService<IEventStore>();
                Assert.True(await store.GetReaderLagAsync(Ct) >= TimeSpan.Zero);
                var stream = Guid.NewGuid();
                await store.AppendAsync(stream, "t", 0, [NewEvent.FromJson("e", "{}")], Ct);
                using var reading = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                reading.CancelAfter(TimeSpan.FromSeconds(30));
                await foreach (var e in store.SubscribeAllAsync(GlobalPosition.Start, null, reading.Token))
                {
                    if (e.AggregateId == stream)
                    {
                        break;
                    }
                }
            }

            // A durable named subscription as the application role: registration, leases, checkpoints, a parked event.
            await using (var member = new ServiceCollection()
                .AddPliersData(o =>
                {
                    o.ConnectionString = app;
                    o.Schema = owner.Schema;
                })
                .AddSingleton(new RefusePoison())
                .AddPliersSubscription<RefusePoison>("app-role", o =>
                {
                    o.OnPoison = Pliers.Data.Subscriptions.PoisonPolicy.Park;
                    o.MaxAttempts = 1;
                })
                .BuildServiceProvider())
            {
                var store = member.GetRequiredService<IEventStore>();
                await store.AppendAsync(Guid.NewGuid(), "t", 0, [NewEvent.FromJson("poison", "{}")], Ct);
                await StartAsync(member);
                var subscriptions = member.GetRequiredService<Pliers.Data.Subscriptions.ISubscriptionStore>();
                await Eventually.WaitAsync(async () => (await subscriptions.ListParkedAsync("app-role", Ct)).Count, n => n == 1, "the poison event parked by the application role");
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                bound.CancelAfter(TimeSpan.FromSeconds(30));
                await subscriptions.WaitForCaughtUpAsync("app-role", bound.Token);
                foreach (var hosted in member.GetServices<IHostedService>())
                {
                    await hosted.StopAsync(Ct);
                }
            }

            // Drift made by someone else is named, to the application role too.
            await postgres.ExecuteAsync($"create index drift_by_hand on \"{owner.Schema}\".form_submissions (created_at)");
            await using (var services = Host())
            {
                var health = await HealthAsync(services);
                Assert.Equal(HealthStatus.Degraded, health.Status);
                Assert.Contains("drift_by_hand", health.Description, StringComparison.Ordinal);
            }

            await postgres.ExecuteAsync($"drop index \"{owner.Schema}\".drift_by_hand");

            // A pending migration: without a migration connection the host stops with what to do, and nothing changed.
            var latest = Pliers.Data.Migrations.PliersMigrations.Versions[^1];
            await owner.Services.RollbackPliersDatabaseAsync(Pliers.Data.Migrations.PliersMigrations.Versions[^2], Ct);
            await using (var services = Host())
            {
                var refused = await Assert.ThrowsAsync<PliersDataException>(() => StartAsync(services));
                Assert.Contains("MigrationConnectionString", refused.Message, StringComparison.Ordinal);
                Assert.Contains(role, refused.Message, StringComparison.Ordinal);
                Assert.Contains(latest, (await services.GetPliersMigrationStatusAsync(Ct)).Pending.Select(m => m.Version));
                Assert.Equal(HealthStatus.Degraded, (await HealthAsync(services)).Status);
            }

            // With the owner's connection for migrations the same host migrates at start-up and runs as the application role.
            await using (var services = Host(postgres.ConnectionString))
            {
                await StartAsync(services);
                Assert.Empty((await services.GetPliersMigrationStatusAsync(Ct)).Pending);
                var health = await HealthAsync(services);
                Assert.True(health.Status == HealthStatus.Healthy, health.Description);
                var forms = services.GetRequiredService<IFormDefinitionRepository>();
                var draft = await forms.CreateAsync("two-roles", JsonDocument.Parse("""{"schema": {"type": "object", "properties": {"at": {"format": "date"}}}}""").RootElement, null, Ct);
                await forms.PublishAsync(draft.Id, null, Ct);
                await Assert.ThrowsAsync<PliersValidationException>(() => services.GetRequiredService<IFormSubmissionRepository>().CreateAsync("two-roles", JsonDocument.Parse("""{"at": "2026-02-30"}""").RootElement, null, Ct));
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.ExecuteAsync($"drop owned by {role} cascade; drop role if exists {role}");
        }
    }

    private sealed class RefusePoison : Pliers.Data.Subscriptions.ISubscriptionHandler
    {
        public Task HandleAsync(StoredEvent @event, Pliers.Data.Subscriptions.SubscriptionContext context, CancellationToken cancellationToken) =>
            @event.EventType == "poison" ? throw new InvalidOperationException("poison") : Task.CompletedTask;
    }
}
