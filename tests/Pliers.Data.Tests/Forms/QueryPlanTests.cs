using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Forms;

/// <summary>
/// Each common query on a 100k-row table uses an index chosen for it: no sequential scan on the big tables,
/// and the paged containment query never goes through a BitmapAnd of the GIN and b-tree indexes.
/// </summary>
public sealed class SeededSubmissions(PostgresFixture postgres) : IAsyncLifetime
{
    public PliersHost Host { get; private set; } = null!;

    public Guid Form { get; private set; }

    private string S => $"\"{Host.Schema}\"";

    public async ValueTask InitializeAsync()
    {
        Host = await PliersHost.MigratedAsync(postgres);

        // 2,000 forms (one active version each, plus drafts), 100,000 submissions spread over them with one
        // large form, as a busy tenant has.
        await postgres.ExecuteAsync($$$"""
            insert into {{{S}}}.form_definitions (name, version, definition, status)
            select 'form-' || i, v, '{"schema": {"type": "object"}}', case when v = 1 then 'active' else 'draft' end
            from generate_series(1, 2000) i, generate_series(1, 2) v;
            insert into {{{S}}}.form_submissions (form_definition_id, form_version, data, status, created_at)
            select d.id, 1,
                   jsonb_build_object('title', 'Ticket ' || g, 'priority', g % 5, 'newsletter', g % 7 = 0, 'city', 'c' || (g % 50)),
                   (array['draft', 'submitted', 'approved', 'rejected'])[1 + g % 4],
                   now() - make_interval(secs => g)
            from generate_series(1, 100000) g
            join {{{S}}}.form_definitions d on d.name = 'form-' || case when g % 2 = 0 then 1 else 1 + g % 2000 end and d.version = 1;
            -- a tenth of them soft-deleted (ticket numbers ending in 3), some long ago
            update {{{S}}}.form_submissions set deleted_at = now() - make_interval(days => substring(data ->> 'title' from 8)::int % 60)
            where substring(data ->> 'title' from 8)::int % 10 = 3;
            analyze {{{S}}}.form_definitions;
            analyze {{{S}}}.form_submissions;
            """);
        Form = await postgres.ScalarAsync<Guid>($"select id from {S}.form_definitions where name = 'form-1' and version = 1");
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();
}

public sealed class QueryPlanTests(PostgresFixture postgres, SeededSubmissions seeded) : IClassFixture<SeededSubmissions>
{
    private PliersHost Host => seeded.Host;

    private Guid Form => seeded.Form;

    private string S => $"\"{Host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<string> PlanAsync(string sql, Dapper.DynamicParameters? parameters = null)
    {
        await using var connection = await postgres.OpenAsync();
        return await Dapper.SqlMapper.ExecuteScalarAsync<string>(connection, new Dapper.CommandDefinition("explain (format json) " + sql, parameters, cancellationToken: Ct)) ?? string.Empty;
    }

    internal static void AssertIndexed(string plan, string table)
    {
        var nodes = new List<JsonElement>();
        void Walk(JsonElement node)
        {
            nodes.Add(node);
            if (node.TryGetProperty("Plans", out var children))
            {
                foreach (var child in children.EnumerateArray())
                {
                    Walk(child);
                }
            }
        }

        Walk(JsonDocument.Parse(plan).RootElement[0].GetProperty("Plan"));
        Assert.DoesNotContain(nodes, n => n.GetProperty("Node Type").GetString() == "Seq Scan" && n.TryGetProperty("Relation Name", out var r) && r.GetString() == table);
        Assert.DoesNotContain(nodes, n => n.GetProperty("Node Type").GetString() == "BitmapAnd");
    }

    private PostgresFormSubmissionRepository Submissions => (PostgresFormSubmissionRepository)Host.Services.GetRequiredService<IFormSubmissionRepository>();

    public static TheoryData<string> Shapes => ["form", "form+status", "form+contains", "contains", "form+priority", "form+title", "created", "form+status+cursor", "form+deleted"];

    [Theory]
    [MemberData(nameof(Shapes))]
    public async Task Each_common_submission_query_uses_an_index(string shape)
    {
        var contains = JsonDocument.Parse("""{"city": "c8"}""").RootElement;
        var query = shape switch
        {
            "form" => new SubmissionQuery { FormDefinitionId = Form },
            "form+status" => new SubmissionQuery { FormDefinitionId = Form, Status = SubmissionStatus.Approved },
            "form+contains" => new SubmissionQuery { FormDefinitionId = Form, DataContains = contains },
            "contains" => new SubmissionQuery { DataContains = contains },
            "form+priority" => new SubmissionQuery { FormDefinitionId = Form, PriorityFrom = 2, PriorityTo = 3 },
            "form+title" => new SubmissionQuery { FormDefinitionId = Form, TitlePrefix = "Ticket 12" },
            "created" => new SubmissionQuery { CreatedFrom = DateTimeOffset.UtcNow.AddHours(-1) },
            "form+deleted" => new SubmissionQuery { FormDefinitionId = Form, IncludeDeleted = true },
            _ => new SubmissionQuery { FormDefinitionId = Form, Status = SubmissionStatus.Approved, Cursor = (await Submissions.QueryAsync(new SubmissionQuery { FormDefinitionId = Form, Status = SubmissionStatus.Approved }, Ct)).NextCursor },
        };

        var (sql, parameters) = Submissions.PageCommand(query);
        var plan = await PlanAsync(sql, parameters);
        AssertIndexed(plan, "form_submissions");

        // and the query returns what it should
        var page = await Submissions.QueryAsync(query, Ct);
        Assert.NotEmpty(page.Items);
    }

    [Theory]
    [InlineData("select * from {0}.form_definitions where id = (select id from {0}.form_definitions where name = 'form-77' and version = 1)")]
    [InlineData("select * from {0}.form_definitions where name = 'form-77' and status = 'active'")]
    [InlineData("select * from {0}.form_definitions where name = 'form-77' order by version")]
    [InlineData("select * from {0}.form_submissions where id = '0199b5a0-0000-7000-8000-000000000000'")]
    [InlineData("select id from {0}.form_submissions where deleted_at is not null and deleted_at < now() order by deleted_at, id limit 1000")]
    public async Task Definition_lookups_use_an_index(string sql)
    {
        var plan = await PlanAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, S));
        AssertIndexed(plan, "form_definitions");
        AssertIndexed(plan, "form_submissions");
    }
}
