using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// The database validator (compiled path and interpreter), the submission trigger and JsonSchema.Net must give
/// the same verdict on thousands of valid and near-valid documents generated from realistic form schemas.
/// </summary>
public sealed class DifferentialTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly JsonNode?[] Replacements =
    [
        null, JsonValue.Create(true), JsonValue.Create(0), JsonValue.Create(-1), JsonValue.Create(1.5), JsonValue.Create(0.25),
        JsonValue.Create(7), JsonValue.Create(1e9), JsonValue.Create(""), JsonValue.Create("x"), JsonValue.Create(new string('y', 600)),
        JsonValue.Create("P-12345"), JsonValue.Create("ABC-1234"), JsonValue.Create("2026-13-40"), JsonValue.Create("no-at-sign"),
        JsonValue.Create("vehicle"), JsonValue.Create("news"), new JsonArray(), new JsonArray(1, 1), new JsonArray("a", "a"),
        new JsonObject(), new JsonObject { ["name"] = "Al" },

        // Unicode and text edges: names in many scripts, combining marks, emoji (one code point, two UTF-16 units;
        // a ZWJ family of seven), line terminators, ECMA-262 white space, non-ASCII digits, markup.
        JsonValue.Create("Nguyễn Văn Ễ"), JsonValue.Create("ẞtraße"), JsonValue.Create("پارسا"), JsonValue.Create("ნინო"),
        JsonValue.Create("ሰላም ዓለም"), JsonValue.Create("ἀλέξανδρος"), JsonValue.Create("e\u0301"), JsonValue.Create("👨‍👩‍👧‍👦"),
        JsonValue.Create("😀"), JsonValue.Create("😀😀😀😀😀😀😀😀😀😀😀😀😀"), JsonValue.Create("line1\nline2"), JsonValue.Create("a\r\nb"),
        JsonValue.Create("x\u2028y"), JsonValue.Create("\u3000"), JsonValue.Create("١٢٣"), JsonValue.Create("hello_1"),
        JsonValue.Create("héllo"), JsonValue.Create("<b>bold</b>"), JsonValue.Create(" leading space"), JsonValue.Create("BK2026"),
        JsonValue.Create("Ørjan"), JsonValue.Create("TN"), JsonValue.Create("Đặng Văn Lâm"), JsonValue.Create("trailing\n"),

        // Format edges: leap seconds with and without offsets, leap days, A-labels (valid, invalid Punycode, a
        // disallowed code point), IP literals, URI and pointer edge cases, unicode where only ASCII is allowed.
        JsonValue.Create("2026-12-31T23:59:60Z"), JsonValue.Create("2026-12-31T15:59:60-08:00"), JsonValue.Create("2026-12-31T22:59:60Z"),
        JsonValue.Create("01:29:60+01:30"), JsonValue.Create("12:00:00"), JsonValue.Create("2023-02-29"), JsonValue.Create("2000-02-29"),
        JsonValue.Create("xn--bcher-kva.example"), JsonValue.Create("xn--X.example"), JsonValue.Create("xn--07jt112bpxg.example"),
        JsonValue.Create("ada@xn--bcher-kva.example"), JsonValue.Create("ada@xn--X.example"), JsonValue.Create("a..b@example.com"),
        JsonValue.Create("thảo@example.vn"), JsonValue.Create("joe@[127.0.0.300]"), JsonValue.Create("::ffff:192.168.0.01"),
        JsonValue.Create("http://[::1]:80/a b"), JsonValue.Create("/a~2"), JsonValue.Create("P1Y2D"), JsonValue.Create("PT0.5S"),
        JsonValue.Create("2EB8AA08-AA98-11EA-B4AA-73B441D16380"), JsonValue.Create("１９２.１６８.０.１"), JsonValue.Create("bücher.example"),

        // Numbers where binary and decimal floating point round or overflow: compared exactly in both layers.
        JsonNode.Parse("99999999999999999999999999999999.5"), JsonNode.Parse("4.000000000000000000000001"), JsonNode.Parse("1e400"),
        JsonNode.Parse("-1e400"), JsonNode.Parse("1e-400"), JsonNode.Parse("-0.0"), JsonNode.Parse("1.0"), JsonNode.Parse("5.00"),
        JsonNode.Parse("123456789012345678901234567890"), JsonNode.Parse("0.1"), JsonNode.Parse("1E2"), JsonNode.Parse("149.99999999999999999999"),
    ];

    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    /// <summary>The valid document, then one mutation at a time: every value replaced, removed, and an extra member per object.</summary>
    internal static IEnumerable<string> Documents(string valid, int seed)
    {
        var random = new Random(seed);
        yield return valid;
        var root = JsonNode.Parse(valid)!;
        var locations = new List<(JsonNode Parent, object Key)>();
        void Walk(JsonNode node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o.ToArray())
                    {
                        locations.Add((o, k));
                        if (v is not null) Walk(v);
                    }

                    break;
                case JsonArray a:
                    for (var i = 0; i < a.Count; i++)
                    {
                        locations.Add((a, i));
                        if (a[i] is not null) Walk(a[i]!);
                    }

                    break;
            }
        }

        Walk(root);
        for (var l = 0; l < locations.Count; l++)
        {
            foreach (var replacement in Replacements)
            {
                var copy = JsonNode.Parse(valid)!;
                var (parent, key) = Locate(copy, root, locations[l]);
                if (key is string k)
                {
                    ((JsonObject)parent)[k] = replacement?.DeepClone();
                }
                else
                {
                    ((JsonArray)parent)[(int)key] = replacement?.DeepClone();
                }

                yield return copy.ToJsonString();
            }

            var removed = JsonNode.Parse(valid)!;
            var (p, rk) = Locate(removed, root, locations[l]);
            if (rk is string name)
            {
                ((JsonObject)p).Remove(name);
                ((JsonObject)p)["extra" + random.Next(100)] = "surprise";
            }
            else
            {
                ((JsonArray)p).RemoveAt((int)rk);
            }

            yield return removed.ToJsonString();
        }

        // valid variations: other numbers and strings where the schema allows many
        for (var i = 0; i < 200; i++)
        {
            var copy = JsonNode.Parse(valid)!;
            var (parent, key) = Locate(copy, root, locations[random.Next(locations.Count)]);
            JsonNode? value = random.Next(4) switch
            {
                0 => JsonValue.Create(random.Next(-5, 200)),
                1 => JsonValue.Create(Math.Round(random.NextDouble() * 100, random.Next(0, 4))),
                2 => JsonValue.Create(new string((char)('a' + random.Next(26)), random.Next(0, 130))),
                _ => JsonValue.Create(random.Next(2) == 0),
            };
            if (key is string k)
            {
                ((JsonObject)parent)[k] = value;
            }
            else
            {
                ((JsonArray)parent)[(int)key] = value;
            }

            yield return copy.ToJsonString();
        }
    }

    private static (JsonNode Parent, object Key) Locate(JsonNode copy, JsonNode original, (JsonNode Parent, object Key) location)
    {
        var path = location.Parent.GetPath();
        var parent = path == "$" ? copy : copy.Root;
        foreach (var segment in JsonPathSegments(path))
        {
            parent = segment is string s ? parent[s]! : parent[(int)segment]!;
        }

        return (parent, location.Key);
    }

    private static IEnumerable<object> JsonPathSegments(string path)
    {
        // JsonNode.GetPath gives $.a.b[0]['c d']; the schemas here use plain member names
        var i = 1;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                var end = path.IndexOfAny(['.', '['], i + 1);
                end = end < 0 ? path.Length : end;
                yield return path[(i + 1)..end];
                i = end;
            }
            else if (path[i] == '[' && path[i + 1] == '\'')
            {
                var end = path.IndexOf("']", i, StringComparison.Ordinal);
                yield return path[(i + 2)..end];
                i = end + 2;
            }
            else
            {
                var end = path.IndexOf(']', i);
                yield return int.Parse(path[(i + 1)..end], System.Globalization.CultureInfo.InvariantCulture);
                i = end + 1;
            }
        }
    }

    [Fact]
    public async Task Database_function_interpreter_trigger_and_JsonSchema_Net_agree()
    {
        var s = $"\"{_host.Schema}\"";
        var total = 0;
        var invalid = 0;
        var compiled = 0;
        var mismatches = new List<string>();
        await using var connection = await postgres.OpenAsync();
        foreach (var (name, schemaText, valid) in FormSchemas.All)
        {
            var schema = Pliers.Data.Validation.SchemaValidator.Build(JsonDocument.Parse(schemaText).RootElement);
            var docs = Documents(valid, 20261125 + name.Length).Distinct().ToArray();

            // one definition per schema, for the trigger
            Guid definitionId;
            await using (var define = new NpgsqlCommand($"insert into {s}.form_definitions (name, version, definition, status) values (@name, 1, jsonb_build_object('schema', @schema::jsonb), 'active') returning id, schema_path is not null", connection))
            {
                define.Parameters.AddWithValue("name", name);
                define.Parameters.AddWithValue("schema", schemaText);
                await using var reader = await define.ExecuteReaderAsync(Ct);
                await reader.ReadAsync(Ct);
                definitionId = reader.GetGuid(0);
                compiled += reader.GetBoolean(1) ? 1 : 0;
            }

            var function = new bool[docs.Length];
            var interpreter = new bool[docs.Length];
            await using (var check = new NpgsqlCommand($"select {s}.jsonb_matches_schema(@schema::jsonb, d), ({s}._jsv_run(@schema::jsonb, d, '{{}}', false) ->> 'ok')::boolean from unnest(@docs::jsonb[]) with ordinality as t(d, n) order by n", connection))
            {
                check.Parameters.AddWithValue("schema", schemaText);
                check.Parameters.Add(new NpgsqlParameter("docs", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = docs });
                await using var reader = await check.ExecuteReaderAsync(Ct);
                for (var i = 0; await reader.ReadAsync(Ct); i++)
                {
                    function[i] = reader.GetBoolean(0);
                    interpreter[i] = reader.GetBoolean(1);
                }
            }

            for (var i = 0; i < docs.Length; i++)
            {
                var expected = schema.Evaluate(JsonDocument.Parse(docs[i]).RootElement, new EvaluationOptions { OutputFormat = OutputFormat.Flag }).IsValid;
                bool trigger;
                try
                {
                    await using var insert = new NpgsqlCommand($"insert into {s}.form_submissions (form_definition_id, form_version, data) values (@id, 1, @data::jsonb)", connection);
                    insert.Parameters.AddWithValue("id", definitionId);
                    insert.Parameters.AddWithValue("data", docs[i]);
                    await insert.ExecuteNonQueryAsync(Ct);
                    trigger = true;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.CheckViolation && e.ConstraintName == "form_submissions_data_schema")
                {
                    trigger = false;
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.CheckViolation && e.ConstraintName == "form_submissions_data_check")
                {
                    trigger = false; // not an object: the table's own check refuses it first
                }

                total++;
                invalid += expected ? 0 : 1;
                if (function[i] != expected || interpreter[i] != expected || trigger != expected)
                {
                    mismatches.Add($"{name}: JsonSchema.Net={expected} function={function[i]} interpreter={interpreter[i]} trigger={trigger}: {docs[i][..Math.Min(300, docs[i].Length)]}");
                }
            }
        }

        var summary = $"{total} documents ({invalid} invalid) over {FormSchemas.All.Count} schemas ({compiled} compiled to jsonpath), {mismatches.Count} disagreements";
        TestContext.Current.TestOutputHelper?.WriteLine(summary);
        Console.WriteLine("Differential validation: " + summary);
        Assert.True(total >= 2000, summary);
        Assert.True(invalid > total / 4 && invalid < total - (total / 10), summary);
        Assert.True(mismatches.Count == 0, summary + "\n" + string.Join("\n", mismatches.Take(30)));
    }
}
