using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Cli;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using static Pliers.Data.Tests.Infrastructure.TestJson;

namespace Pliers.Data.Tests.Forms;

/// <summary>
/// Tenants (issue 14): per-tenant names and active versions, every read and write inside one tenant, the default
/// tenant unchanged, and row-level security as the second wall for the application role.
/// </summary>
public sealed class TenantTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Schema(string required) =>
        "{\"schema\": {\"type\": \"object\", \"required\": [\"" + required + "\"], \"properties\": {\"" + required + "\": {\"type\": \"integer\"}}}}";

    [Fact]
    public async Task Tenants_share_form_names_and_never_see_each_others_rows()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var events = host.Services.GetRequiredService<IEventStore>();
        Assert.Equal(string.Empty, forms.TenantId);
        const string a = "acme", b = "Bäckerei 東京 🥨";
        Assert.Equal(b, submissions.ForTenant(b).TenantId);

        // The same name in two tenants (and in the default one): each has its own version 1, active at the same time.
        var formA = await forms.ForTenant(a).PublishAsync((await forms.ForTenant(a).CreateAsync("intake", JsonOf(Schema("a")), null, Ct)).Id, null, Ct);
        var formB = await forms.ForTenant(b).PublishAsync((await forms.ForTenant(b).CreateAsync("intake", JsonOf(Schema("b")), null, Ct)).Id, null, Ct);
        var formDefault = await forms.PublishAsync((await forms.CreateAsync("intake", JsonOf(Schema("d")), null, Ct)).Id, null, Ct);
        Assert.All(new[] { formA, formB, formDefault }, f => Assert.Equal(1, f.Version));
        await Assert.ThrowsAsync<PliersConflictException>(() => forms.ForTenant(a).CreateAsync("intake", JsonOf(Schema("a")), null, Ct));

        // Each tenant's submissions validate against its own active version (the cache keys by tenant too).
        var inA = await submissions.ForTenant(a).CreateAsync("intake", JsonOf("""{"a": 1}"""), null, Ct);
        var inB = await submissions.ForTenant(b).CreateAsync("intake", JsonOf("""{"b": 2}"""), null, Ct);
        await submissions.ForTenant(b).CreateAsync(formB.Id, JsonOf("""{"b": 3}"""), null, Ct);
        var inDefault = await submissions.CreateAsync("intake", JsonOf("""{"d": 4}"""), null, Ct);
        var refused = await Assert.ThrowsAsync<PliersValidationException>(() => submissions.ForTenant(a).CreateAsync("intake", JsonOf("""{"b": 1}"""), null, Ct));
        Assert.Contains(refused.Errors, e => e.Keyword == "required");

        // Another tenant's definition id is unknown, from the cache or not.
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ForTenant(a).CreateAsync(formB.Id, JsonOf("""{"b": 1}"""), null, Ct));
        Assert.Null(await forms.ForTenant(a).GetByIdAsync(formB.Id, Ct));
        Assert.Equal(formA.Id, (await forms.ForTenant(a).GetActiveAsync("intake", Ct))!.Id);
        Assert.Equal(formDefault.Id, (await forms.GetActiveAsync("intake", Ct))!.Id);
        Assert.Single((await forms.ForTenant(b).ListAsync(new FormDefinitionQuery(), Ct)).Items);

        // Reads, counts, streams and exports see one tenant.
        Assert.Equal(1, await submissions.ForTenant(a).CountAsync(new SubmissionQuery { FormName = "intake" }, Ct));
        Assert.Equal(2, await submissions.ForTenant(b).CountAsync(new SubmissionQuery(), Ct));
        Assert.Equal(1, await submissions.CountAsync(new SubmissionQuery(), Ct));
        Assert.Null(await submissions.ForTenant(a).GetByIdAsync(inB.Id, Ct));
        Assert.Null(await submissions.GetByIdAsync(inA.Id, Ct));
        Assert.Equal(inA.Id, (await submissions.ForTenant(a).GetByIdAsync(inA.Id, Ct))!.Id);
        Assert.Equal([inDefault.Id], (await submissions.QueryAsync(new SubmissionQuery { FormName = "intake" }, Ct)).Items.Select(s => s.Id));
        var streamed = await ToListAsync(submissions.ForTenant(b).StreamAsync(new SubmissionQuery { DataContains = JsonOf("""{"b": 2}""") }, Ct));
        Assert.Equal([inB.Id], streamed.Select(s => s.Id));
        using (var csv = new MemoryStream())
        {
            Assert.Equal(2, await submissions.ForTenant(b).ExportAsync("intake", SubmissionExportFormat.Ndjson, csv, null, null, Ct));
        }

        // Writes to another tenant's rows find nothing; nothing changes.
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ForTenant(a).UpdateDataAsync(inB.Id, inB.RowVersion, JsonOf("""{"b": 9}"""), null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ForTenant(a).ChangeStatusAsync(inB.Id, inB.RowVersion, SubmissionStatus.Submitted, null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ForTenant(a).DeleteAsync(inB.Id, null, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => submissions.ForTenant(a).ListRevisionsAsync(inB.Id, Ct));
        await Assert.ThrowsAsync<PliersNotFoundException>(() => forms.ForTenant(a).ArchiveAsync(formB.Id, null, Ct));
        Assert.Equal(0, await submissions.ForTenant(a).PurgeAsync(TimeSpan.Zero, null, Ct));
        var edited = await submissions.ForTenant(b).UpdateDataAsync(inB.Id, inB.RowVersion, JsonOf("""{"b": 5}"""), null, Ct);
        Assert.Equal(2, edited.Revision);
        Assert.Equal(2, (await submissions.ForTenant(b).ListRevisionsAsync(inB.Id, Ct)).Count);
        Assert.Equal(1, await submissions.ForTenant(b).BulkImportAsync("intake", [JsonOf("""{"b": 6}""")], null, Ct));
        Assert.Equal(3, await submissions.ForTenant(b).CountAsync(new SubmissionQuery(), Ct));

        // Events carry their tenant; streams and the global read stay inside it.
        var stream = Guid.NewGuid();
        var appended = await events.ForTenant(a).AppendAsync(stream, "order", ExpectedVersion.NoStream, [NewEvent.FromJson("placed", "{}")], Ct);
        await HeadReachesAsync(events, appended.Positions[^1]);
        await Assert.ThrowsAsync<PliersConcurrencyException>(() => events.ForTenant(b).AppendAsync(stream, "order", ExpectedVersion.Any, [NewEvent.FromJson("placed", "{}")], Ct));
        Assert.Equal(0, await events.ForTenant(b).GetStreamVersionAsync(stream, Ct));
        Assert.Equal(1, await events.ForTenant(a).GetStreamVersionAsync(stream, Ct));
        var all = await ToListAsync(events.ForTenant(a).ReadAllAsync(GlobalPosition.Start, 1000, null, Ct));
        Assert.All(all, e => Assert.Equal(a, e.TenantId));
        Assert.Contains(all, e => e.AggregateId == stream);
        Assert.Contains(all, e => e.AggregateId == inA.Id);
        var defaults = await ToListAsync(events.ReadAllAsync(GlobalPosition.Start, 1000, null, Ct));
        Assert.All(defaults, e => Assert.Equal(string.Empty, e.TenantId));
        Assert.Contains(defaults, e => e.AggregateId == inDefault.Id);
        var fromB = await ToListAsync(events.ForTenant(b).ReadStreamAsync(inB.Id, 1, Ct));
        Assert.Equal(["form.submission.created", "form.submission.updated"], fromB.Select(e => e.EventType));
        Assert.All(fromB, e => Assert.Equal(b, e.TenantId));
        Assert.Empty(await ToListAsync(events.ForTenant(a).ReadStreamAsync(inB.Id, 1, Ct))); // tenant A does not read B's stream
    }

    private sealed class Recording(System.Collections.Concurrent.ConcurrentQueue<(string Tenant, Guid Aggregate)> seen) : Pliers.Data.Subscriptions.ISubscriptionHandler
    {
        public Task HandleAsync(StoredEvent @event, Pliers.Data.Subscriptions.SubscriptionContext context, CancellationToken cancellationToken)
        {
            seen.Enqueue((@event.TenantId, @event.AggregateId));
            return Task.CompletedTask;
        }
    }

    /// <summary>The global read shows what is below the oldest running transaction of the cluster (other tests' too): wait, bounded.</summary>
    private static async Task HeadReachesAsync(IEventStore events, long position)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await events.GetHeadPositionAsync(Ct)).Position < position)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the global head did not reach position {position} within 60 s");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>
    /// The default schema name, pliers, is also the prefix of the tenant setting (pliers.tenant): the drift check must not
    /// take the setting's name for a schema-qualified name (found by running the quickstart, which reported drift).
    /// </summary>
    [Fact]
    public async Task A_schema_called_pliers_shows_no_drift_and_its_tenants_work()
    {
        await using var host = await PliersHost.MigratedAsync(postgres, PliersDataOptions.DefaultSchema);
        var verification = await host.Services.VerifyPliersDatabaseAsync(Ct);
        Assert.True(verification.IsMatch, string.Join("; ", verification.Differences));
        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>().ForTenant("t");
        var form = await forms.CreateAsync("drift", JsonOf(Schema("a")), null, Ct);
        Assert.NotNull(await forms.GetByIdAsync(form.Id, Ct));
        Assert.Null(await host.Services.GetRequiredService<IFormDefinitionRepository>().GetByIdAsync(form.Id, Ct));
    }

    /// <summary>
    /// The definition cache keys by tenant: a publish in tenant A in one host drops A's entry in another host (and only
    /// A's), whose next submission in A lands on the new version while tenant B keeps its own active version.
    /// </summary>
    [Fact]
    public async Task A_publish_in_one_tenant_reaches_the_cache_of_another_host_for_that_tenant_only()
    {
        await using var one = await PliersHost.MigratedAsync(postgres);
        await using var two = PliersHost.Create(postgres, one.Schema);
        const string a = "tenant a/with slash", b = "tenant-b";
        var formsA = one.Services.GetRequiredService<IFormDefinitionRepository>().ForTenant(a);
        var formsB = one.Services.GetRequiredService<IFormDefinitionRepository>().ForTenant(b);
        await formsA.PublishAsync((await formsA.CreateAsync("common-form", JsonOf(Schema("x")), null, Ct)).Id, null, Ct);
        var bV1 = await formsB.PublishAsync((await formsB.CreateAsync("common-form", JsonOf(Schema("x")), null, Ct)).Id, null, Ct);

        // Host two caches both tenants' version 1 (its listener up first: entries cached before LISTEN are dropped).
        var cache = two.Services.GetRequiredService<ActiveDefinitionCache>();
        var inTwoA = two.Services.GetRequiredService<IFormSubmissionRepository>().ForTenant(a);
        var inTwoB = two.Services.GetRequiredService<IFormSubmissionRepository>().ForTenant(b);
        await inTwoA.CreateAsync("common-form", JsonOf("""{"x": 1}"""), null, Ct);
        await Eventually.WaitAsync(() => cache.Listening, "the definition listener listens");
        await inTwoA.CreateAsync("common-form", JsonOf("""{"x": 1}"""), null, Ct);
        await inTwoB.CreateAsync("common-form", JsonOf("""{"x": 1}"""), null, Ct);
        Assert.Equal(1, cache.ByName(a + "\u001fcommon-form")?.Version);
        Assert.Equal(1, cache.ByName(b + "\u001fcommon-form")?.Version);

        var aV2 = await formsA.PublishAsync((await formsA.CreateVersionAsync("common-form", JsonOf(Schema("y")), null, Ct)).Id, null, Ct);
        await Eventually.WaitAsync(() => cache.ByName(a + "\u001fcommon-form") is null, "host two forgets tenant A's archived version");
        Assert.Equal(1, cache.ByName(b + "\u001fcommon-form")?.Version);
        var landed = await inTwoA.CreateAsync("common-form", JsonOf("""{"y": 2}"""), null, Ct);
        Assert.Equal(aV2.Id, landed.FormDefinitionId);
        Assert.Equal(bV1.Id, (await inTwoB.CreateAsync("common-form", JsonOf("""{"x": 3}"""), null, Ct)).FormDefinitionId);
    }

    [Theory]
    [InlineData("")]
    [InlineData("*")]
    [InlineData(" padded")]
    [InlineData("tab\there")]
    [InlineData("nul\0")]
    public async Task Tenant_ids_that_are_not_one_are_refused_naming_the_argument(string tenantId)
    {
        await using var services = new ServiceCollection().AddPliersData(o => o.ConnectionString = "Host=localhost").BuildServiceProvider();
        var error = Assert.Throws<ArgumentException>(() => services.GetRequiredService<IFormSubmissionRepository>().ForTenant(tenantId));
        Assert.Equal("tenantId", error.ParamName);
        Assert.Throws<ArgumentException>(() => services.GetRequiredService<IEventStore>().ForTenant(new string('x', 101)));
        Assert.Throws<ArgumentException>(() => services.GetRequiredService<IFormDefinitionRepository>().ForTenant("lone \ud800 surrogate"));
    }

    [Fact]
    public async Task A_multi_tenant_host_refuses_calls_without_a_tenant_and_migrations_switch_row_level_security_on()
    {
        var schema = PostgresFixture.NewSchemaName();
        await using var host = PliersHost.Create(postgres, schema, configure: o => o.MultiTenant = true);
        await host.Services.MigratePliersDatabaseAsync(Ct);
        var secured = await postgres.QueryAsync<string>($"select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relrowsecurity order by 1");
        Assert.Equal(["events", "form_definitions", "form_submission_revisions", "form_submissions"], secured);

        var forms = host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = host.Services.GetRequiredService<IFormSubmissionRepository>();
        var events = host.Services.GetRequiredService<IEventStore>();
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => forms.CreateAsync("f", JsonOf(Schema("a")), null, Ct));
        Assert.Contains("ForTenant", error.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<InvalidOperationException>(() => submissions.GetByIdAsync(Guid.NewGuid(), Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => submissions.CountAsync(new SubmissionQuery(), Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => events.AppendAsync(Guid.NewGuid(), "t", ExpectedVersion.Any, [NewEvent.FromJson("e", "{}")], Ct));
        await Assert.ThrowsAsync<InvalidOperationException>(() => ToListAsync(events.ReadAllAsync(GlobalPosition.Start, 10, null, Ct)));

        // Named, it works; the global head (a position, not data) needs no tenant.
        var form = await forms.ForTenant("t1").CreateAsync("f", JsonOf(Schema("a")), null, Ct);
        Assert.Equal(form.Id, (await forms.ForTenant("t1").GetByIdAsync(form.Id, Ct))!.Id);
        await HeadReachesAsync(events, 1);
        Assert.Equal(0, await postgres.ScalarAsync<long>($"select count(*) from \"{schema}\".form_definitions where tenant_id = ''"));
    }

    /// <summary>
    /// The second wall: the application role of <c>pliers-data grant</c>, connected for tenant A, runs hand-written SQL
    /// and sees, changes and adds nothing of tenant B's; the library itself works as that role, bulk import included.
    /// </summary>
    [Fact]
    public async Task Row_level_security_keeps_the_application_role_inside_its_tenant_whatever_sql_it_runs()
    {
        var role = "app_" + Guid.NewGuid().ToString("N")[..10];
        var password = Guid.NewGuid().ToString("N");
        var schema = PostgresFixture.NewSchemaName();
        await using var owner = PliersHost.Create(postgres, schema, configure: o => o.MultiTenant = true);
        await owner.Services.MigratePliersDatabaseAsync(Ct);
        await postgres.ExecuteAsync($"create role {role} login password '{password}'");
        try
        {
            Assert.Equal(0, await CliApp.RunAsync(["grant", "--role", role, "--connection", postgres.ConnectionString, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));
            var app = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = role, Password = password }.ConnectionString;
            await using var services = new ServiceCollection()
                .AddPliersData(o =>
                {
                    o.ConnectionString = app;
                    o.Schema = schema;
                    o.MultiTenant = true;
                })
                .BuildServiceProvider();
            Assert.Empty((await services.GetPliersMigrationStatusAsync(Ct)).Pending);
            await services.MigratePliersDatabaseAsync(Ct); // nothing to do: RLS is on already, the role needs no more rights

            // The library, as the application role, in two tenants (bulk import goes through INSERT ... SELECT here).
            var forms = services.GetRequiredService<IFormDefinitionRepository>();
            var submissions = services.GetRequiredService<IFormSubmissionRepository>();
            var ids = new Dictionary<string, Guid>();
            foreach (var tenant in new[] { "A", "B" })
            {
                var draft = await forms.ForTenant(tenant).CreateAsync("wall", JsonOf(Schema("n")), null, Ct);
                await forms.ForTenant(tenant).PublishAsync(draft.Id, null, Ct);
                var created = await submissions.ForTenant(tenant).CreateAsync("wall", JsonOf("""{"n": 1}"""), null, Ct);
                created = await submissions.ForTenant(tenant).UpdateDataAsync(created.Id, created.RowVersion, JsonOf("""{"n": 2}"""), null, Ct);
                ids[tenant] = created.Id;
                Assert.Equal(2, await submissions.ForTenant(tenant).BulkImportAsync("wall", [JsonOf("""{"n": 3}"""), JsonOf("""{"n": 4}""")], null, Ct));
                await Assert.ThrowsAsync<PliersValidationException>(() => submissions.ForTenant(tenant).BulkImportAsync("wall", [JsonOf("""{"n": "x"}""")], null, Ct));
                var notAnObject = await Assert.ThrowsAsync<PliersValidationException>(() => submissions.ForTenant(tenant).BulkImportAsync("wall", [JsonOf("""{"n": 5}"""), JsonOf("[]")], null, Ct));
                Assert.Contains(notAnObject.Errors, e => e.Path == "/1");
                Assert.Equal(3, await submissions.ForTenant(tenant).CountAsync(new SubmissionQuery(), Ct));
            }

            var s = $"\"{schema}\"";

            // Connected for tenant A (the setting in the connection string), hand-written SQL sees A only.
            var forA = new NpgsqlConnectionStringBuilder(app) { Options = "-c pliers.tenant=A", Pooling = false }.ConnectionString;
            await using (var connection = new NpgsqlConnection(forA))
            {
                await connection.OpenAsync(Ct);
                Assert.Equal(["A"], await connection.QueryAsync<string>($"select distinct tenant_id from {s}.form_submissions"));
                Assert.Equal(3, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submissions"));
                Assert.Equal(1, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submission_revisions"));
                Assert.Equal(["A"], await connection.QueryAsync<string>($"select distinct tenant_id from {s}.events"));
                Assert.Equal(["A"], await connection.QueryAsync<string>($"select distinct tenant_id from {s}.form_definitions"));
                Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submissions where id = '{ids["B"]}'"));

                // Changes to B's rows touch nothing.
                Assert.Equal(0, await connection.ExecuteAsync($"update {s}.form_submissions set status = 'archived' where tenant_id = 'B'"));
                Assert.Equal(0, await connection.ExecuteAsync($"update {s}.form_submissions set deleted_at = now() where id = '{ids["B"]}'"));
                Assert.Equal(0, await connection.ExecuteAsync($"delete from {s}.form_submissions where tenant_id = 'B'"));
                Assert.Equal(0, await connection.ExecuteAsync($"delete from {s}.form_definitions where tenant_id = 'B' and status = 'draft'"));

                // Rows for B, or moving A's rows to B, are refused by the policy.
                async Task RefusedAsync(string sql)
                {
                    var error = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync(sql));
                    Assert.True(error.SqlState == PostgresErrorCodes.InsufficientPrivilege, $"{sql}: {error.SqlState} {error.MessageText}");
                }

                await RefusedAsync($$"""insert into {{s}}.form_definitions (tenant_id, name, version, definition) values ('B', 'forged', 1, '{"schema": true}')""");
                await RefusedAsync($"update {s}.form_submissions set tenant_id = 'B' where id = '{ids["A"]}'");
                await RefusedAsync($"insert into {s}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version, tenant_id) values (gen_random_uuid(), gen_random_uuid(), 't', 'e', '{{}}', 1, 'B')");
            }

            // Without a tenant the application role sees the default tenant's rows (none); with '*' it may read every
            // tenant's events, and nothing else.
            await using (var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(app) { Pooling = false }.ConnectionString))
            {
                await connection.OpenAsync(Ct);
                Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submissions"));
                Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.events"));
                await using var transaction = await connection.BeginTransactionAsync(Ct);
                await connection.ExecuteAsync($"call {s}.use_tenant('*')", transaction: transaction);
                Assert.Equal(["A", "B"], await connection.QueryAsync<string>($"select distinct tenant_id from {s}.events order by 1", transaction: transaction));
                Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submissions", transaction: transaction));
                var error = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync($"insert into {s}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version) values (gen_random_uuid(), gen_random_uuid(), 't', 'e', '{{}}', 1)", transaction: transaction));
                Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
            }

            // A durable subscription of the multi-tenant host, as the application role, reads every tenant's events
            // (each with its tenant) through the events' '*' read policy, and keeps its checkpoints.
            var seen = new System.Collections.Concurrent.ConcurrentQueue<(string Tenant, Guid Aggregate)>();
            await using (var member = new ServiceCollection()
                .AddPliersData(o =>
                {
                    o.ConnectionString = app;
                    o.Schema = schema;
                    o.MultiTenant = true;
                })
                .AddSingleton(new Recording(seen))
                .AddPliersSubscription<Recording>("all-tenants", o => o.Filter = new EventFilter { EventTypes = ["form.submission.created"] })
                .BuildServiceProvider())
            {
                foreach (var hosted in member.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
                {
                    await hosted.StartAsync(Ct);
                }

                // "Caught up" is relative to the global head, which other tests' open transactions can hold back: wait
                // until the head is past this test's last event first (bounded).
                await HeadReachesAsync(member.GetRequiredService<IEventStore>(), await postgres.ScalarAsync<long>($"select max(position) from {s}.events"));
                using var bound = CancellationTokenSource.CreateLinkedTokenSource(Ct);
                bound.CancelAfter(TimeSpan.FromSeconds(60));
                await member.GetRequiredService<Pliers.Data.Subscriptions.ISubscriptionStore>().WaitForCaughtUpAsync("all-tenants", bound.Token);
                foreach (var hosted in member.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
                {
                    await hosted.StopAsync(Ct);
                }
            }

            Assert.Contains(seen, e => e.Tenant == "A" && e.Aggregate == ids["A"]);
            Assert.Contains(seen, e => e.Tenant == "B" && e.Aggregate == ids["B"]);
            Assert.Equal(6, seen.Select(e => e.Aggregate).Distinct().Count()); // 1 created + 2 imported, per tenant

            // The transaction-local setting does not outlive the library's call on a pooled connection.
            await using (var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(app) { MaxPoolSize = 1 }.ConnectionString))
            {
                await using (var connection = await dataSource.OpenConnectionAsync(Ct))
                {
                    Assert.Equal(3, await connection.ExecuteScalarAsync<long>($"call {s}.use_tenant('B'); select count(*) from {s}.form_submissions"));
                }

                await using (var connection = await dataSource.OpenConnectionAsync(Ct))
                {
                    Assert.Equal(string.Empty, await connection.ExecuteScalarAsync<string>($"select {s}.current_tenant()"));
                    Assert.Equal(0, await connection.ExecuteScalarAsync<long>($"select count(*) from {s}.form_submissions"));
                }
            }
        }
        finally
        {
            NpgsqlConnection.ClearAllPools();
            await postgres.ExecuteAsync($"drop owned by {role} cascade; drop role if exists {role}");
        }
    }
}
