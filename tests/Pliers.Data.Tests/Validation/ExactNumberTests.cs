using System.Text.Json;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.Validation;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// Numbers are compared by their exact value in both layers: no rounding through <see cref="decimal"/> or
/// <see cref="double"/>, no exception for numbers beyond their range, <c>5</c> equal to <c>5.0</c> everywhere.
/// </summary>
public sealed class ExactNumberTests(PostgresFixture postgres) : IAsyncLifetime
{
    private PliersHost _host = null!;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    public static TheoryData<string, string, bool> Cases => new()
    {
        { """{"type": "integer"}""", "4.000000000000000000000001", false },
        { """{"type": "integer"}""", "99999999999999999999999999999999.5", false },
        { """{"type": "integer"}""", "1e400", true },
        { """{"type": "integer"}""", "12.5e1", true },
        { """{"type": "integer"}""", "125e-1", false },
        { """{"type": "integer"}""", "-0.0", true },
        { """{"maximum": 10}""", "99999999999999999999999999999999.5", false },
        { """{"minimum": 99999999999999999999999999999999.4}""", "99999999999999999999999999999999.5", true },
        { """{"exclusiveMaximum": 1}""", "0.99999999999999999999999999999999999", true },
        { """{"multipleOf": 0.01}""", "1e400", true },
        { """{"multipleOf": 0.5}""", "99999999999999999999999999999999.5", true },
        { """{"multipleOf": 2}""", "99999999999999999999999999999999.5", false },
        { """{"enum": [99999999999999999999999999999999.5]}""", "99999999999999999999999999999999.50", true },
        { """{"enum": [1, "a", {"x": [1]}]}""", """{"x": [1.0]}""", true },
        { """{"const": 1e400}""", "10e399", true },
        { """{"const": false}""", "0", false },
        { """{"uniqueItems": true}""", "[5, 5.0]", false },
        { """{"uniqueItems": true}""", """[{"a": 1}, {"a": 1.0}]""", false },
        { """{"uniqueItems": true}""", "[1e400, 1e400]", false },
        { """{"uniqueItems": true}""", "[[1], [true]]", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Both_layers_give_the_exact_verdict(string schema, string instance, bool valid)
    {
        var built = SchemaValidator.Build(JsonDocument.Parse(schema).RootElement);
        Assert.Equal(valid, built.Evaluate(JsonDocument.Parse(instance).RootElement).IsValid);
        var s = $"\"{_host.Schema}\"";
        Assert.Equal(valid, await postgres.ScalarAsync<bool>($"select {s}.jsonb_matches_schema('{schema}', '{instance}')"));
        Assert.Equal(valid, await postgres.ScalarAsync<bool>($"select ({s}._jsv_run('{schema}', '{instance}', '{{}}', false) ->> 'ok')::boolean"));
    }
}
