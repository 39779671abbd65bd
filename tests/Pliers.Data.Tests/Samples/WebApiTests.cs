using Microsoft.Extensions.Logging;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.WebApi;

namespace Pliers.Data.Tests.Samples;

/// <summary>The web sample, run on 127.0.0.1 with Kestrel and driven over HTTP.</summary>
public sealed class WebApiTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Create_publish_submit_query_read_events_and_health_over_http()
    {
        var schema = PostgresFixture.NewSchemaName("web");
        var logs = new RecordingLoggerProvider();
        await using var app = WebApiApp.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration["Pliers:ConnectionString"] = postgres.ConnectionString;
            builder.Configuration["Pliers:Schema"] = schema;
            builder.Logging.SetMinimumLevel(LogLevel.Information);
            builder.Logging.AddProvider(logs);
        });
        try
        {
            await app.StartAsync(Ct);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address) };

            var created = await http.PostAsJsonAsync("/forms", new { name = "web-intake", definition = JsonDocument.Parse("""{"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string", "pattern": "@"}, "age": {"type": "integer", "minimum": 0}}}}""").RootElement }, Ct);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var form = await created.Content.ReadFromJsonAsync<JsonElement>(Ct);
            var formId = form.GetProperty("id").GetGuid();

            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"/forms/{formId}/publish", null, Ct)).StatusCode);
            var again = await http.PostAsync($"/forms/{formId}/publish", null, Ct);
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
            Assert.Equal("application/problem+json", again.Content.Headers.ContentType?.MediaType);

            var submitted = await http.PostAsJsonAsync("/forms/web-intake/submissions", new { email = "ada@example.org", age = 36 }, Ct);
            Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
            var submissionId = (await submitted.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid();

            var invalid = await http.PostAsJsonAsync("/forms/web-intake/submissions", new { email = "nope", age = -1 }, Ct);
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            var problem = await invalid.Content.ReadFromJsonAsync<JsonElement>(Ct);
            var errors = problem.GetProperty("errors");
            Assert.True(errors.TryGetProperty("/email", out _));
            Assert.True(errors.TryGetProperty("/age", out _));
            var violations = problem.GetProperty("violations").EnumerateArray().ToArray();
            Assert.Contains(violations, v => v.GetProperty("path").GetString() == "/age" && v.GetProperty("detail").TryGetProperty("limit", out _));

            Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsJsonAsync("/forms/unknown/submissions", new { email = "a@b" }, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/submissions/{Guid.NewGuid()}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/submissions/{submissionId}", Ct)).StatusCode);

            var page = await http.GetFromJsonAsync<JsonElement>("/submissions?form=web-intake", Ct);
            Assert.Equal(1, page.GetProperty("items").GetArrayLength());
            var tampered = await http.GetAsync("/submissions?form=web-intake&cursor=tampered", Ct);
            Assert.Equal(HttpStatusCode.BadRequest, tampered.StatusCode);
            Assert.Contains("cursor", await tampered.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

            var events = await http.GetFromJsonAsync<JsonElement>($"/events/{formId}", Ct);
            Assert.Equal(["form.definition.created", "form.definition.published"], events.EnumerateArray().Select(e => e.GetProperty("eventType").GetString()));

            // Status change by name; enums are written as strings.
            var current = await http.GetFromJsonAsync<JsonElement>($"/submissions/{submissionId}", Ct);
            Assert.Equal("Draft", current.GetProperty("status").GetString());
            var changed = await http.PostAsJsonAsync($"/submissions/{submissionId}/status", new { status = "Submitted", rowVersion = current.GetProperty("rowVersion").GetUInt32() }, Ct);
            Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
            Assert.Equal("Submitted", (await changed.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("status").GetString());
            var stale = await http.PostAsJsonAsync($"/submissions/{submissionId}/status", new { status = "Approved", rowVersion = current.GetProperty("rowVersion").GetUInt32() }, Ct);
            Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);
            Assert.Equal("application/problem+json", stale.Content.Headers.ContentType?.MediaType);

            // A data change keeps the replaced revision; the diff is a JSON Patch.
            var latest = await http.GetFromJsonAsync<JsonElement>($"/submissions/{submissionId}", Ct);
            var edited = await http.PutAsJsonAsync($"/submissions/{submissionId}", new { data = new { email = "ada@example.org", age = 37 }, rowVersion = latest.GetProperty("rowVersion").GetUInt32() }, Ct);
            Assert.Equal(HttpStatusCode.OK, edited.StatusCode);
            Assert.Equal(2, (await edited.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("revision").GetInt32());
            var revisions = await http.GetFromJsonAsync<JsonElement>($"/submissions/{submissionId}/revisions", Ct);
            Assert.Equal(2, revisions.GetArrayLength());
            Assert.Equal(36, (await http.GetFromJsonAsync<JsonElement>($"/submissions/{submissionId}/revisions/1", Ct)).GetProperty("data").GetProperty("age").GetInt32());
            var diff = await http.GetAsync($"/submissions/{submissionId}/diff?from=1&to=2", Ct);
            Assert.Equal("application/json-patch+json", diff.Content.Headers.ContentType?.MediaType);
            Assert.Equal("""[{"op":"replace","path":"/age","value":37}]""", await diff.Content.ReadAsStringAsync(Ct));
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/submissions/{submissionId}/diff?from=1&to=7", Ct)).StatusCode);

            // Soft delete hides it; restore brings it back; restoring a live one is a conflict.
            Assert.Equal(HttpStatusCode.OK, (await http.DeleteAsync($"/submissions/{submissionId}", Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/submissions/{submissionId}", Ct)).StatusCode);
            Assert.Equal(0, (await http.GetFromJsonAsync<JsonElement>("/submissions?form=web-intake", Ct)).GetProperty("items").GetArrayLength());
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync($"/submissions/{submissionId}/restore", null, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.Conflict, (await http.PostAsync($"/submissions/{submissionId}/restore", null, Ct)).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"/submissions/{submissionId}", Ct)).StatusCode);

            // Export, streamed.
            var csv = await http.GetAsync("/forms/web-intake/export?format=csv", Ct);
            Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
            Assert.StartsWith("_id,_form_version,_status,_revision,_created_at,_updated_at,_deleted_at,", await csv.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            var ndjson = await http.GetStringAsync("/forms/web-intake/export?format=ndjson", Ct);
            Assert.Single(ndjson.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Equal(HttpStatusCode.BadRequest, (await http.GetAsync("/forms/web-intake/export?format=xml", Ct)).StatusCode);

            // Every error is ProblemDetails: malformed JSON, an unknown route, an unknown id.
            using (var malformed = new StringContent("{\"email\": ", System.Text.Encoding.UTF8, "application/json"))
            {
                var bad = await http.PostAsync("/forms/web-intake/submissions", malformed, Ct);
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
                Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
            }

            var nowhere = await http.GetAsync("/no/such/route", Ct);
            Assert.Equal(HttpStatusCode.NotFound, nowhere.StatusCode);
            Assert.Equal("application/problem+json", nowhere.Content.Headers.ContentType?.MediaType);
            var unknown = await http.GetAsync($"/submissions/{Guid.NewGuid()}", Ct);
            Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType?.MediaType);

            // Client errors are logged as information, never as unhandled exceptions.
            Assert.Contains(logs.Entries, e => e.Level == LogLevel.Information && e.Message.Contains("PliersValidationException", StringComparison.Ordinal));
            Assert.DoesNotContain(logs.Entries, e => e.Level >= LogLevel.Error);

            // The sample's projection (a transactional named subscription) counted the one submission.
            var stats = await Eventually.WaitAsync(
                () => http.GetFromJsonAsync<JsonElement>("/stats/forms", Ct),
                s => s.GetArrayLength() == 1 && s[0].GetProperty("submissions").GetInt64() == 1,
                "the form-stats projection counted the submission");
            Assert.Equal("web-intake", stats[0].GetProperty("form").GetString());
            var subscriptions = await http.GetFromJsonAsync<JsonElement>("/subscriptions", Ct);
            Assert.Equal("form-stats", subscriptions[0].GetProperty("name").GetString());

            var health = await http.GetAsync("/health", Ct);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            Assert.Equal("Healthy", await health.Content.ReadAsStringAsync(Ct));
        }
        finally
        {
            await app.StopAsync(Ct);
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade; drop schema if exists \"{schema}_sample\" cascade");
        }
    }
    /// <summary>A multi-tenant deployment of the sample: the X-Tenant header puts each request in one tenant.</summary>
    [Fact]
    public async Task Each_request_works_in_the_tenant_its_header_names()
    {
        var schema = PostgresFixture.NewSchemaName("web");
        await using var app = WebApiApp.Build(["--urls", "http://127.0.0.1:0"], builder =>
        {
            builder.Configuration["Pliers:ConnectionString"] = postgres.ConnectionString;
            builder.Configuration["Pliers:Schema"] = schema;
            builder.Configuration["Pliers:MultiTenant"] = "true";
        });
        try
        {
            await app.StartAsync(Ct);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address) };
            async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? tenant, object? body = null)
            {
                using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
                if (tenant is not null)
                {
                    request.Headers.Add("X-Tenant", tenant);
                }

                return await http.SendAsync(request, Ct);
            }

            var ids = new Dictionary<string, Guid>();
            foreach (var tenant in new[] { "north", "süd" })
            {
                var created = await SendAsync(HttpMethod.Post, "/forms", Uri.EscapeDataString(tenant), new { name = "same-name", definition = JsonDocument.Parse("""{"schema": {"type": "object"}}""").RootElement });
                Assert.Equal(HttpStatusCode.Created, created.StatusCode);
                var formId = (await created.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid();
                Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Post, $"/forms/{formId}/publish", Uri.EscapeDataString(tenant))).StatusCode);
                var submitted = await SendAsync(HttpMethod.Post, "/forms/same-name/submissions", Uri.EscapeDataString(tenant), new { who = tenant });
                Assert.Equal(HttpStatusCode.Created, submitted.StatusCode);
                ids[tenant] = (await submitted.Content.ReadFromJsonAsync<JsonElement>(Ct)).GetProperty("id").GetGuid();
            }

            Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, $"/submissions/{ids["north"]}", "north")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Get, $"/submissions/{ids["north"]}", Uri.EscapeDataString("süd"))).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(HttpMethod.Delete, $"/submissions/{ids["north"]}", Uri.EscapeDataString("süd"))).StatusCode);
            var page = await (await SendAsync(HttpMethod.Get, "/submissions?form=same-name", "north")).Content.ReadFromJsonAsync<JsonElement>(Ct);
            Assert.Equal([ids["north"]], page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("id").GetGuid()));

            // No tenant in a multi-tenant deployment is refused (never the default tenant), as is a bad tenant id: 400.
            var missing = await SendAsync(HttpMethod.Get, $"/submissions/{ids["north"]}", null);
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
            Assert.Contains("X-Tenant", await missing.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
            Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(HttpMethod.Get, $"/submissions/{ids["north"]}", "*")).StatusCode);

            // The projection (a subscription across tenants) counts per tenant.
            var deadline = DateTime.UtcNow.AddSeconds(30);
            JsonElement stats;
            do
            {
                stats = await (await SendAsync(HttpMethod.Get, "/stats/forms", "north")).Content.ReadFromJsonAsync<JsonElement>(Ct);
                if (stats.GetArrayLength() == 1)
                {
                    break;
                }

                await Task.Delay(50, Ct);
            }
            while (DateTime.UtcNow < deadline);

            Assert.Equal(1, stats.GetArrayLength());
            Assert.Equal(1, stats[0].GetProperty("submissions").GetInt64());
        }
        finally
        {
            await app.StopAsync(Ct);
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade; drop schema if exists \"{schema}_sample\" cascade");
        }
    }
}

/// <summary>Keeps every log entry of a host, for assertions on levels.</summary>
internal sealed class RecordingLoggerProvider : ILoggerProvider
{
    public System.Collections.Concurrent.ConcurrentQueue<(LogLevel Level, string Category, string Message)> Entries { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Recorder(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Recorder(RecordingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Entries.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? string.Empty : " | " + exception.GetType().Name + ": " + exception.Message)));
    }
}
