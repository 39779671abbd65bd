using System.Text.Json;
using System.Text.Json.Serialization;
using Pliers.Data;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Subscriptions;
using Dapper;
using Npgsql;

namespace Pliers.Data.WebApi;

/// <summary>The sample's minimal API: forms, submissions, events and health over Pliers.Data.</summary>
public static class WebApiApp
{
    /// <summary>Request body for creating a form.</summary>
    public sealed record CreateForm(string Name, JsonElement Definition);

    /// <summary>Request body for a data change: the new data and the row version read last.</summary>
    public sealed record ChangeData(JsonElement Data, uint RowVersion);

    /// <summary>Request body for a status change: the new status (by name) and the row version read last.</summary>
    public sealed record ChangeStatus(SubmissionStatus Status, uint RowVersion);

    private static readonly Action<ILogger, string, string, string, string, Exception?> ClientErrorLogged =
        LoggerMessage.Define<string, string, string, string>(LogLevel.Information, new EventId(1, "ClientError"), "{Method} {Path} answered as a client error: {Error}: {Message}");

    /// <summary>The ProblemDetails answer for an exception that is the client's error, or null.</summary>
    private static IResult? ClientError(Exception error) => error switch
    {
        PliersValidationException v => Results.ValidationProblem(
            v.Errors.GroupBy(e => e.Path.Length == 0 ? "/" : e.Path).ToDictionary(g => g.Key, g => g.Select(e => $"{e.Keyword}: {e.Message}").ToArray()),
            title: v.Message,
            // the same errors for programs: pointer, keyword and the machine-readable detail (limit, allowed values, ...)
            extensions: new Dictionary<string, object?> { ["violations"] = v.Errors.Select(e => new { path = e.Path, keyword = e.Keyword, detail = e.Detail }).ToArray() }),
        PliersNotFoundException n => Results.Problem(n.Message, statusCode: StatusCodes.Status404NotFound),
        PliersConflictException c => Results.Problem(c.Message, statusCode: StatusCodes.Status409Conflict, title: c.Rule),
        PliersConcurrencyException c => Results.Problem(c.Message, statusCode: StatusCodes.Status409Conflict, title: "concurrency"),
        BadHttpRequestException or JsonException => Results.Problem("The request body is not valid JSON for this endpoint.", statusCode: StatusCodes.Status400BadRequest),
        ArgumentException a => Results.Problem(a.Message, statusCode: StatusCodes.Status400BadRequest, title: "Invalid argument"), // a foreign paging cursor, a page size out of range
        _ => null,
    };

    /// <summary>Builds the application; configuration section "Pliers" holds the connection string and schema.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);
        builder.Services.AddProblemDetails();
        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter())); // "Submitted", not 1
        builder.Services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // malformed bodies reach the client-error answer
        builder.Services.AddPliersData(builder.Configuration.GetSection("Pliers"));
        builder.Services.AddPliersMigrationsOnStartup();
        builder.Services.AddHostedService<FormStatsTable>();
        builder.Services.AddPliersSubscription<FormStatsProjection>(FormStatsProjection.Name, o =>
        {
            o.Transactional = true; // the projection row and the checkpoint commit together
            o.Filter = new EventFilter { EventTypes = [PliersEventTypes.SubmissionCreated] };
        });
        builder.Services.AddHealthChecks().AddPliersData();

        var app = builder.Build();

        // Client errors (invalid data, unknown ids, conflicts, malformed JSON) are answers, not failures: ProblemDetails,
        // logged as information. Anything else reaches the exception handler: a 500 ProblemDetails, logged as an error.
        var clientErrors = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Pliers.Data.WebApi.ClientErrors");
        app.UseExceptionHandler();
        app.UseStatusCodePages(); // 404 for unknown routes, 405, bodiless 400s: ProblemDetails too
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context);
            }
            catch (Exception error) when (ClientError(error) is { } result && !context.Response.HasStarted)
            {
                ClientErrorLogged(clientErrors, context.Request.Method, context.Request.Path, error.GetType().Name, error.Message, null);
                await result.ExecuteAsync(context);
            }
        });
        app.MapPost("/forms", async (CreateForm body, RequestTenant tenant, CancellationToken ct) =>
        {
            var created = await tenant.Forms.CreateAsync(body.Name, body.Definition, ct);
            return Results.Created($"/forms/{created.Id}", created);
        });
        app.MapPost("/forms/{id:guid}/publish", async (Guid id, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Forms.PublishAsync(id, ct)));
        app.MapGet("/forms/{name}/active", async (string name, RequestTenant tenant, CancellationToken ct) =>
            await tenant.Forms.GetActiveAsync(name, ct) is { } form ? Results.Ok(form) : Results.NotFound());
        app.MapPost("/forms/{name}/submissions", async (string name, JsonElement data, RequestTenant tenant, CancellationToken ct) =>
        {
            var created = await tenant.Submissions.CreateAsync(name, data, ct);
            return Results.Created($"/submissions/{created.Id}", created);
        });
        app.MapGet("/submissions/{id:guid}", async (Guid id, RequestTenant tenant, CancellationToken ct) =>
            await tenant.Submissions.GetByIdAsync(id, ct) is { } found ? Results.Ok(found) : Results.NotFound());
        app.MapGet("/submissions", async (string? form, SubmissionStatus? status, string? cursor, int? pageSize, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.QueryAsync(new SubmissionQuery { FormName = form, Status = status, Cursor = cursor, PageSize = pageSize ?? 50 }, ct)));
        app.MapPost("/submissions/{id:guid}/status", async (Guid id, ChangeStatus body, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.ChangeStatusAsync(id, body.RowVersion, body.Status, ct)));
        app.MapPut("/submissions/{id:guid}", async (Guid id, ChangeData body, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.UpdateDataAsync(id, body.RowVersion, body.Data, ct)));
        app.MapDelete("/submissions/{id:guid}", async (Guid id, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.DeleteAsync(id, ct)));
        app.MapPost("/submissions/{id:guid}/restore", async (Guid id, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.RestoreAsync(id, ct)));
        app.MapGet("/submissions/{id:guid}/revisions", async (Guid id, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(await tenant.Submissions.ListRevisionsAsync(id, ct)));
        app.MapGet("/submissions/{id:guid}/revisions/{revision:int}", async (Guid id, int revision, RequestTenant tenant, CancellationToken ct) =>
            await tenant.Submissions.GetRevisionAsync(id, revision, ct) is { } found ? Results.Ok(found) : Results.NotFound());
        app.MapGet("/submissions/{id:guid}/diff", async (Guid id, int from, int to, RequestTenant tenant, CancellationToken ct) =>
            Results.Json(await tenant.Submissions.DiffRevisionsAsync(id, from, to, ct), contentType: "application/json-patch+json"));
        app.MapGet("/forms/{name}/export", async (string name, string? format, HttpContext http, RequestTenant tenant, CancellationToken ct) =>
        {
            var csv = format is null or "csv";
            if (!csv && format != "ndjson")
            {
                return Results.Problem("format is csv or ndjson.", statusCode: StatusCodes.Status400BadRequest);
            }

            // Streamed straight into the response: constant memory whatever the number of tenant.Submissions.
            return Results.Stream(
                body => tenant.Submissions.ExportAsync(name, csv ? SubmissionExportFormat.Csv : SubmissionExportFormat.Ndjson, body, null, null, ct),
                csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                fileDownloadName: $"{name}.{(csv ? "csv" : "ndjson")}");
        });
        app.MapGet("/events/{aggregateId:guid}", (Guid aggregateId, RequestTenant tenant, CancellationToken ct) =>
            Results.Ok(tenant.Events.ReadStreamAsync(aggregateId, 1, ct)));
        app.MapGet("/stats/forms", async (RequestTenant tenant, NpgsqlDataSource dataSource, Microsoft.Extensions.Options.IOptions<PliersDataOptions> options, CancellationToken ct) =>
        {
            await using var connection = await dataSource.OpenConnectionAsync(ct);
            return Results.Ok(await connection.QueryAsync(new CommandDefinition(
                $"select form, submissions, last_submission_at as \"lastSubmissionAt\" from {FormStatsProjection.Table(options.Value.Schema)} where tenant = @tenant order by form",
                new { tenant = tenant.Submissions.TenantId },
                cancellationToken: ct)));
        });
        app.MapGet("/subscriptions", async (ISubscriptionStore subscriptions, CancellationToken ct) => Results.Ok(await subscriptions.ListAsync(ct)));
        app.MapHealthChecks("/health");
        return app;
    }
}

/// <summary>
/// The repositories of the request's tenant, bound per request: the <c>X-Tenant</c> header names the tenant; without
/// it the request works in the default tenant (a single-tenant deployment sends nothing), or, in a multi-tenant
/// deployment (<c>Pliers:MultiTenant</c>), is refused with 400. A host that authenticates
/// its users takes the tenant from a claim instead of a header; the pattern stays the same: one <c>ForTenant</c> per
/// request, never a tenant kept in a singleton.
/// </summary>
/// <param name="Forms">The tenant's form definitions.</param>
/// <param name="Submissions">The tenant's submissions.</param>
/// <param name="Events">The tenant's events.</param>
public sealed record RequestTenant(IFormDefinitionRepository Forms, IFormSubmissionRepository Submissions, IEventStore Events)
{
    /// <summary>The header that names the tenant.</summary>
    public const string Header = "X-Tenant";

    /// <summary>Binds the parameter from the request (minimal APIs call this); an invalid tenant id is a 400.</summary>
    /// <param name="http">The request.</param>
    /// <returns>The tenant's repositories.</returns>
    public static ValueTask<RequestTenant?> BindAsync(HttpContext http)
    {
        var services = http.RequestServices;
        var forms = services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = services.GetRequiredService<IFormSubmissionRepository>();
        var events = services.GetRequiredService<IEventStore>();
        var tenant = http.Request.Headers[Header].ToString();
        if (string.IsNullOrEmpty(tenant) && services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PliersDataOptions>>().Value.MultiTenant)
        {
            // A multi-tenant deployment has no default tenant to fall back on: the client must say whose request it is.
            throw new ArgumentException($"This deployment keeps tenants apart: send the {Header} header.", Header);
        }

        return ValueTask.FromResult<RequestTenant?>(string.IsNullOrEmpty(tenant)
            ? new RequestTenant(forms, submissions, events)
            : new RequestTenant(forms.ForTenant(tenant), submissions.ForTenant(tenant), events.ForTenant(tenant)));
    }
}
