using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Reliability;

/// <summary>
/// Random and adversarial input through the public API: every call ends in a correct result or a typed Pliers
/// error (or an argument error) — never a raw PostgresException, a hang or a crash — and the database stays intact.
/// </summary>
[Trait("Category", "Reliability")]
public sealed class FuzzTests(PostgresFixture postgres) : IAsyncLifetime
{
    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private static string RandomJson(Random random, int depth)
    {
        string Text()
        {
            var pool = new[] { "a", "é", "😀", "\\u0000", "\\ud800", "\"", "\\\\", "'; drop table events; --", "%_", "\\n", "\u202e", new string('x', random.Next(0, 3000)) };
            var sb = new StringBuilder("\"");
            for (var i = random.Next(0, 6); i > 0; i--)
            {
                sb.Append(pool[random.Next(pool.Length)].Replace("\"", "\\\"", StringComparison.Ordinal));
            }

            return sb.Append('"').ToString();
        }

        if (depth <= 0)
        {
            return random.Next(8) switch
            {
                0 => "null",
                1 => "true",
                2 => "1e308",
                3 => "-0.000000000000000000000000000001",
                4 => "123456789012345678901234567890",
                5 => random.Next(-1000, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => Text(),
            };
        }

        return random.Next(3) switch
        {
            0 => "[" + string.Join(",", Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth - 1))) + "]",
            1 => "{" + string.Join(",", Enumerable.Range(0, random.Next(0, 4)).Select(i => $"{Text()}:{RandomJson(random, depth - 1)}").DistinctBy(p => p.Split(':')[0])) + "}",
            _ => RandomJson(random, 0),
        };
    }

    [Fact]
    public async Task Random_and_adversarial_input_gets_a_typed_error_or_a_correct_result()
    {
        var forms = _host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = _host.Services.GetRequiredService<IFormSubmissionRepository>();
        var store = _host.Services.GetRequiredService<IEventStore>();
        var draft = await forms.CreateAsync("fuzz", JsonDocument.Parse("""{"schema": {"type": "object", "properties": {"a": {"type": "string", "maxLength": 100}}}}""").RootElement, null, Ct);
        await forms.PublishAsync(draft.Id, null, Ct);

        var random = new Random(7);
        var tried = 0;
        var accepted = 0;
        var refused = 0;
        for (var i = 0; i < 400; i++)
        {
            var text = i % 50 == 0 ? "{\"a\":" + new string('[', 5000) + new string(']', 5000) + "}" : RandomJson(random, random.Next(0, 5));
            JsonElement element;
            try
            {
                element = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 10_000 }).RootElement.Clone();
            }
            catch (JsonException)
            {
                continue; // not JSON at all: refused before the library sees it
            }

            foreach (var call in new Func<Task>[]
                     {
                         () => submissions.CreateAsync("fuzz", element, null, Ct),
                         () => store.AppendAsync(Guid.NewGuid(), "fuzz", 0, [new NewEvent("fuzz.case", element)], Ct),
                         () => submissions.QueryAsync(new SubmissionQuery { DataContains = element, TitlePrefix = text.Length > 200 ? text[..200] : text }, Ct),
                         () => forms.CreateAsync("fuzz-" + i, JsonDocument.Parse($$"""{"schema": {{(element.ValueKind is JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False ? text : "true")}}}""", new JsonDocumentOptions { MaxDepth = 10_000 }).RootElement, null, Ct),
                     })
            {
                tried++;
                try
                {
                    await call();
                    accepted++;
                }
                catch (Exception e) when (e is PliersDataException or ArgumentException)
                {
                    refused++;
                }
                catch (Exception e) when (e is PostgresException or NpgsqlException)
                {
                    Assert.Fail($"raw database error for input {text[..Math.Min(200, text.Length)]}: {e.GetType().Name}: {e.Message}");
                }
            }
        }

        // The database is intact: the form still works and the tables hold what was accepted.
        var ok = await submissions.CreateAsync("fuzz", JsonDocument.Parse("""{"a": "still fine"}""").RootElement, null, Ct);
        Assert.NotNull(await submissions.GetByIdAsync(ok.Id, Ct));
        Assert.True(await postgres.ScalarAsync<long>($"select count(*) from \"{_host.Schema}\".events") > 0);
        TestContext.Current.TestOutputHelper?.WriteLine($"inputs tried {tried}: accepted {accepted}, refused with a typed error {refused}");
        Assert.True(tried >= 1000 && accepted > 0 && refused > 0, $"tried {tried}, accepted {accepted}, refused {refused}");
    }
}
