using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Cli;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Forms;

/// <summary>
/// A multi-tenant schema (row-level security on) with 50 tenants, 2,000 forms, 100,000 submissions (half of each
/// tenant's in its busiest form, a tenth soft-deleted) and 100,000 events, and an application role granted on it.
/// </summary>
public sealed class SeededTenants(PostgresFixture postgres) : IAsyncLifetime
{
    public PliersHost Host { get; private set; } = null!;

    public string Role { get; } = "app_" + Guid.NewGuid().ToString("N")[..10];

    public string AppConnectionString { get; private set; } = null!;

    private string S => $"\"{Host.Schema}\"";

    public async ValueTask InitializeAsync()
    {
        Host = PliersHost.Create(postgres, configure: o => o.MultiTenant = true);
        await Host.Services.MigratePliersDatabaseAsync(TestContext.Current.CancellationToken);
        await postgres.ExecuteAsync($$$"""
            insert into {{{S}}}.form_definitions (tenant_id, name, version, definition, status)
            select 'tenant-' || t, 'form-' || f, 1, '{"schema": {"type": "object"}}', 'active'
            from generate_series(1, 50) t, generate_series(1, 40) f;
            insert into {{{S}}}.form_submissions (tenant_id, form_definition_id, form_version, data, status, created_at)
            select d.tenant_id, d.id, 1,
                   jsonb_build_object('title', 'Ticket ' || g, 'priority', (g / 50) % 5, 'city', 'c' || (g % 50)),
                   (array['draft', 'submitted', 'approved', 'rejected'])[1 + g % 4],
                   now() - make_interval(secs => g)
            from generate_series(1, 100000) g
            join {{{S}}}.form_definitions d on d.tenant_id = 'tenant-' || (1 + g % 50)
                 and d.name = 'form-' || case when (g / 50) % 2 = 0 then 1 else 1 + (g / 100) % 40 end;
            update {{{S}}}.form_submissions set deleted_at = now() where substring(data ->> 'title' from 8)::int % 10 = 3;
            insert into {{{S}}}.events (id, aggregate_id, aggregate_type, event_type, event_data, event_version, tenant_id)
            select gen_random_uuid(), gen_random_uuid(), 'order', 'placed', '{}', 1, 'tenant-' || (1 + g % 50)
            from generate_series(1, 100000) g;
            analyze {{{S}}}.form_definitions;
            analyze {{{S}}}.form_submissions;
            analyze {{{S}}}.events;
            """);
        var password = Guid.NewGuid().ToString("N");
        await postgres.ExecuteAsync($"create role {Role} login password '{password}'");
        Assert.Equal(0, await CliApp.RunAsync(["grant", "--role", Role, "--connection", postgres.ConnectionString, "--schema", Host.Schema], TextWriter.Null, TextWriter.Null, TestContext.Current.CancellationToken));
        AppConnectionString = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Username = Role, Password = password, Pooling = false }.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await postgres.ExecuteAsync($"drop owned by {Role} cascade; drop role if exists {Role}");
    }
}

/// <summary>
/// Tenant-scoped queries keep index plans (issue 14), both for a role that row-level security does not apply to and
/// for the application role it does: no sequential scan of the big tables and no BitmapAnd, for every common query
/// shape in one tenant among 50.
/// </summary>
public sealed class TenantQueryPlanTests(PostgresFixture postgres, SeededTenants seeded) : IClassFixture<SeededTenants>
{
    private const string Tenant = "tenant-7";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string S => $"\"{seeded.Host.Schema}\"";

    private PostgresFormSubmissionRepository Submissions => (PostgresFormSubmissionRepository)seeded.Host.Services.GetRequiredService<IFormSubmissionRepository>().ForTenant(Tenant);

    public static TheoryData<string, bool> Shapes()
    {
        var data = new TheoryData<string, bool>();
        foreach (var shape in new[] { "tenant", "form", "form+status", "form+contains", "contains", "form+priority", "form+title", "created", "form+status+cursor", "form+deleted", "form-name" })
        {
            data.Add(shape, false);
            data.Add(shape, true);
        }

        return data;
    }

    private async Task<string> PlanAsync(bool asApplicationRole, string sql, object? parameters = null)
    {
        await using var connection = asApplicationRole ? new NpgsqlConnection(seeded.AppConnectionString) : await postgres.OpenAsync();
        if (asApplicationRole)
        {
            await connection.OpenAsync(Ct);
        }

        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await connection.ExecuteAsync($"call {S}.use_tenant(@tenant)", new { tenant = Tenant }, transaction);
        return await connection.ExecuteScalarAsync<string>(new CommandDefinition("explain (format json) " + sql, parameters, transaction, cancellationToken: Ct)) ?? string.Empty;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Each_tenant_scoped_submission_query_uses_an_index(string shape, bool asApplicationRole)
    {
        var form = (await seeded.Host.Services.GetRequiredService<IFormDefinitionRepository>().ForTenant(Tenant).GetActiveAsync("form-1", Ct))!.Id;
        var contains = JsonDocument.Parse("""{"city": "c6"}""").RootElement;
        var query = shape switch
        {
            "tenant" => new SubmissionQuery(),
            "form" => new SubmissionQuery { FormDefinitionId = form },
            "form+status" => new SubmissionQuery { FormDefinitionId = form, Status = SubmissionStatus.Approved },
            "form+contains" => new SubmissionQuery { FormDefinitionId = form, DataContains = contains },
            "contains" => new SubmissionQuery { DataContains = contains },
            "form+priority" => new SubmissionQuery { FormDefinitionId = form, PriorityFrom = 2, PriorityTo = 3 },
            "form+title" => new SubmissionQuery { FormDefinitionId = form, TitlePrefix = "Ticket 1" },
            "created" => new SubmissionQuery { CreatedFrom = DateTimeOffset.UtcNow.AddHours(-1) },
            "form+deleted" => new SubmissionQuery { FormDefinitionId = form, IncludeDeleted = true },
            "form-name" => new SubmissionQuery { FormName = "form-1" },
            _ => new SubmissionQuery { FormDefinitionId = form, Status = SubmissionStatus.Approved, Cursor = (await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = form, Status = SubmissionStatus.Approved }, Ct)).NextCursor },
        };

        var (sql, parameters) = Submissions.PageCommand(query);
        var plan = await PlanAsync(asApplicationRole, sql, parameters);
        QueryPlanTests.AssertIndexed(plan, "form_submissions");
        QueryPlanTests.AssertIndexed(plan, "form_definitions");

        var page = await Submissions.QueryAsync(query, Ct);
        Assert.NotEmpty(page.Items);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Tenant_scoped_definition_and_event_reads_use_an_index(bool asApplicationRole)
    {
        var statements = new[]
        {
            $"select * from {S}.form_definitions where tenant_id = {S}.current_tenant() and name = 'form-7' and status = 'active'",
            $"select * from {S}.form_definitions where tenant_id = {S}.current_tenant() and name = 'form-7' order by version",
            $"select * from {S}.form_submissions where id = '0199b5a0-0000-7000-8000-000000000000' and tenant_id = {S}.current_tenant()",
        };
        foreach (var sql in statements)
        {
            var plan = await PlanAsync(asApplicationRole, sql);
            QueryPlanTests.AssertIndexed(plan, "form_definitions");
            QueryPlanTests.AssertIndexed(plan, "form_submissions");
        }

        // The event store's own statements for one tenant: its global read (partial index of named tenants) and a stream.
        var events = ((PostgresEventStore)seeded.Host.Services.GetRequiredService<IEventStore>()).Table;
        var (read, parameters) = events.ReadAll(GlobalPosition.Start, 500, null, namedTenant: true);
        parameters.Add("pliers_tenant", Tenant); // what the tenant's CALL carries (TenantScope)
        AssertIndexedEvents(await PlanAsync(asApplicationRole, read, parameters));
        AssertIndexedEvents(await PlanAsync(asApplicationRole, events.ReadStream.Named, new { aggregate_id = Guid.NewGuid(), version = 1 }));

        var count = 0;
        await foreach (var e in seeded.Host.Services.GetRequiredService<IEventStore>().ForTenant(Tenant).ReadAllAsync(GlobalPosition.Start, 500, null, Ct))
        {
            Assert.Equal(Tenant, e.TenantId);
            count++;
        }

        Assert.Equal(500, count);

        static void AssertIndexedEvents(string plan)
        {
            QueryPlanTests.AssertIndexed(plan, "events");
            Assert.Contains("Index", plan, StringComparison.Ordinal);
        }
    }
}
