using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Forms;
using Pliers.Data.Submissions;
using Pliers.Data.Tests.Infrastructure;
using Pliers.Data.Validation;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// JSON Schema patterns are ECMA-262 regular expressions with the <c>u</c> flag, and string lengths count code
/// points. The application layer (JsonSchema.Net with the library's keywords) and the database layer (the PL/pgSQL
/// translator, in the interpreter and in compiled jsonpath) must follow that; Node's own <c>RegExp</c> with the
/// <c>u</c> flag is the third opinion.
/// </summary>
public sealed class PatternDialectTests(PostgresFixture postgres) : IAsyncLifetime
{
    /// <summary>Patterns of real forms, and the defect classes of issue 12.</summary>
    internal static readonly string[] FormPatterns =
    [
        @"^[\p{L} '-]+$", @"^[\p{L}\p{M} '-]+$", @"^\p{Lu}[\p{L}\p{M}'-]*$", @"^[\p{L}\p{M}][\p{L}\p{M} .'-]*$", @"^\p{Lu}{1,3}$",
        @"^[\p{Ll}\p{Nd}-]{2,20}$", @"^[\p{L}\p{Zs}'.-]+$", @"^[\p{L}.]+@corp\.example$", @"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        @"^[^<>]*$", @"^[^\d<>]+$", @"^[^\r\n]+$", @"^(?:[^\n]*\n){0,9}[^\n]*$", @"^(?!\s)[\s\S]*$", @"\S", @"^\w{3,12}$",
        @"^\w+$", @"\bcat\b", @"\Bcat\B", @"^.$", @"^..$", @"^.*$", @"^\d+$", @"^\s$", @"^\s+$", @"^[a-z]{2}(-[A-Z]{2})?$",
        @"^\+?[0-9 ()-]{7,20}$", @"^(0[1-9]|1[0-2])/(0[1-9]|[12]\d|3[01])$", @"^\bBK\d{4}\b$", @"^@[A-Za-z0-9_]{1,15}$",
        @"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-[A-Z]{2})?$", @"^.{1,300}$", @"^a{300}$", @"^(?<x>\p{L})\k<x>$", @"^(a)\1$",
        @"^\u{1F600}+$", @"^\uD83D\uDE00$", @"^[😀-😂]$", @"^[^a]$", @"^\P{L}+$", @"^[\P{L}x]+$", @"^[\w\-.]+$",
        @"^\p{Script_Extensions=Latin}$", @"^(?<=a)b", @"^\x41\u0042\cJ?$", @"^[\u0000-\u001F]$", @"^\p{Nd}+$",
        @"^\p{gc=Lu}\p{General_Category=Lowercase_Letter}+$", @"^[\p{Any}]$", @"^\p{ASCII}+$", @"^[^]$", @"^[]$", "$^",
        @"^\p{Sc}\d+(\.\d{2})?$", @"^\p{Emoji}$", @"^[.]$", @"\$\d", @"^\/path$", @"a|b|", @"(?:)", @"^(?=.*\d)(?=.*\p{Lu}).{8,}$",
    ];

    /// <summary>Patterns that are not valid with the <c>u</c> flag: both layers refuse them.</summary>
    internal static readonly string[] InvalidPatterns =
    [
        "a{", "a{2,1}", "(", ")", "[a", "a**", "*a", @"\", @"\a", @"\-", "]", "}", @"[\d-z]", "[z-a]", @"\p{Foo}", @"\p{L",
        @"(?<1a>x)", @"(?<a>x)(?<a>y)", @"\k<nope>", @"\2(a)", "(?=a)*", "(?<=a)+", @"\u{110000}", @"\xZ1", @"\c1", @"\00",
    ];

    /// <summary>Strings the patterns are tried on.</summary>
    internal static readonly string[] Strings =
    [
        "", "a", "ab", "aa", "b", "cat", "a cat here", "concatenate", "BK2026", "Bob1", "Bob", "bob", "hello_1", "héllo", "TN", "Tn",
        "Nguyễn Văn Ễ", "ẞtraße", "پارسا", "ნინო", "ሰላም ዓለም", "ἀλέξανδρος", "Ørjan", "Þórsdóttir-Müller", "Đặng Văn Lâm", "O'Brien",
        "e\u0301", "\u0301e", "👨‍👩‍👧‍👦", "😀", "😁", "😀😀", "x😀", "line1\nline2", "a\r\nb", "x\u2028y", "trailing\n", "\n", "\r",
        "\u3000", "\u00A0", "\t", " ", " leading", "١٢٣", "123", "12345678", "<b>", "a<b", "+84 (28) 123-4567", "07/14", "13/40",
        "grace@navy.mil", "élodie.martin@corp.example", "no at", "vi-VN", "en", "zh-Hant-TW", "€12.50", "$12", "Passw0rdX", "password",
        "/path", ".", "A", "AB", "\u0001", "\u001F", "\uFFFF", "\U0001F600\U0001F600", new string('a', 300), new string('a', 299),
        new string('é', 300), "@thao_ng", "j_smith42", "Ab", "aB", "a-b.c_d",
    ];

    private PliersHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await PliersHost.MigratedAsync(postgres);

    public ValueTask DisposeAsync() => _host.DisposeAsync();

    private string S => $"\"{_host.Schema}\"";

    [Fact]
    public void The_database_property_tables_are_the_ones_dotnet_generates()
    {
        using var stream = typeof(PliersDataOptions).Assembly.GetManifestResourceStream("Pliers.Data.Validation.unicode.sql")!;
        using var reader = new StreamReader(stream);
        var shipped = reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
        Assert.True(
            UnicodeProperties.Sql() == shipped,
            "src/Pliers.Data/Validation/unicode.sql differs from UnicodeProperties.Sql() (a .NET upgrade changed the Unicode tables?): regenerate it and add a migration that ships it.");
    }

    [Fact]
    public async Task The_database_translates_every_pattern_exactly_as_the_library_does()
    {
        var patterns = FormPatterns.Concat(InvalidPatterns).Concat(SuitePatterns()).Distinct().ToArray();
        await using var connection = await postgres.OpenAsync();
        var differences = new List<string>();
        foreach (var pattern in patterns)
        {
            string? library;
            try
            {
                library = EcmaPattern.Translate(pattern, EcmaPattern.Target.Are);
            }
            catch (ArgumentException)
            {
                library = null;
            }

            string? database;
            try
            {
                await using var command = new NpgsqlCommand($"select {S}._jsv_regex(@p)", connection);
                command.Parameters.AddWithValue("p", pattern);
                database = (string?)await command.ExecuteScalarAsync(Ct);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InvalidRegularExpression)
            {
                database = null;
            }

            if (library != database)
            {
                differences.Add($"{pattern}: library {library ?? "refuses"} | database {database ?? "refuses"}");
            }
        }

        Assert.True(patterns.Length > 100, $"only {patterns.Length} patterns");
        Assert.True(differences.Count == 0, $"{differences.Count} of {patterns.Length} patterns translated differently:\n" + string.Join("\n", differences.Take(10)));
        foreach (var invalid in InvalidPatterns)
        {
            Assert.Throws<ArgumentException>(() => EcmaPattern.Translate(invalid, EcmaPattern.Target.DotNet));
        }
    }

    [Fact]
    public async Task Patterns_match_alike_in_dotnet_the_database_compiled_jsonpath_and_Node()
    {
        var patterns = FormPatterns.Concat(SuitePatterns()).Distinct()
            .Where(p => Try(() => EcmaPattern.Translate(p, EcmaPattern.Target.DotNet)))
            .ToArray();
        var strings = Strings.Concat(SuiteStrings()).Distinct(StringComparer.Ordinal).Where(s => !s.Contains('\0', StringComparison.Ordinal) && !HasLoneSurrogate(s)).ToArray();

        // .NET, through the keyword the validator uses
        var app = patterns.Select(p => strings.Select(s => PliersKeywords.Regex(p).IsMatch(s)).ToArray()).ToArray();

        // PostgreSQL: the ~ operator (interpreter) and like_regex with flag "s" (compiled schemas)
        var operatorResults = new bool[patterns.Length][];
        var jsonpathResults = new bool[patterns.Length][];
        await using (var connection = await postgres.OpenAsync())
        {
            for (var i = 0; i < patterns.Length; i++)
            {
                await using var command = new NpgsqlCommand(
                    $"""
                    select s ~ r, jsonb_path_match(to_jsonb(s), ('$ like_regex ' || {S}._jsv_q(r) || ' flag "s"')::jsonpath)
                    from (select {S}._jsv_regex(@p) as r) t, unnest(@strings) with ordinality as u(s, n) order by n
                    """,
                    connection);
                command.Parameters.AddWithValue("p", patterns[i]);
                command.Parameters.Add(new NpgsqlParameter("strings", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = strings });
                await using var reader = await command.ExecuteReaderAsync(Ct);
                var op = new List<bool>();
                var jp = new List<bool>();
                while (await reader.ReadAsync(Ct))
                {
                    op.Add(reader.GetBoolean(0));
                    jp.Add(reader.GetBoolean(1));
                }

                operatorResults[i] = [.. op];
                jsonpathResults[i] = [.. jp];
            }
        }

        var node = await NodeAsync(patterns, strings);
        var disagreements = new List<string>();
        for (var i = 0; i < patterns.Length; i++)
        {
            for (var j = 0; j < strings.Length; j++)
            {
                var ecma = node?[i]?[j];
                if (app[i][j] != operatorResults[i][j] || app[i][j] != jsonpathResults[i][j] || (ecma is { } e && e != app[i][j]))
                {
                    disagreements.Add($"/{patterns[i]}/u on {JsonSerializer.Serialize(strings[j])}: .NET {app[i][j]}, ~ {operatorResults[i][j]}, like_regex {jsonpathResults[i][j]}, Node {ecma?.ToString() ?? "n/a"}");
                }
            }
        }

        var summary = $"{patterns.Length} patterns x {strings.Length} strings, Node {(node is null ? "not available" : "consulted")}: {disagreements.Count} disagreements";
        Console.WriteLine("Pattern differential: " + summary);
        Assert.True(disagreements.Count == 0, summary + "\n" + string.Join("\n", disagreements.Take(20)));
    }

    [Fact]
    public async Task A_pattern_that_backtracks_catastrophically_is_bounded_and_refused()
    {
        // "^(a+)+$" on thirty a's and a "!" takes a backtracking engine ~2^30 steps. PostgreSQL's engine decides it
        // at once; the application layer stops at its match timeout and refuses the value, naming the pattern.
        var schema = """{"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a+)+$"}}}""";
        var evil = new JsonObject { ["s"] = new string('a', 30) + "!" }.ToJsonString();
        var fine = new JsonObject { ["s"] = new string('a', 30) }.ToJsonString();
        Assert.False(await postgres.ScalarAsync<bool>($"select {S}.jsonb_matches_schema('{schema}', '{evil}')"));
        Assert.True(await postgres.ScalarAsync<bool>($"select {S}.jsonb_matches_schema('{schema}', '{fine}')"));

        var validator = new SchemaValidator();
        var definition = Guid.NewGuid();
        var schemaElement = JsonDocument.Parse(schema).RootElement;
        validator.Validate(definition, 1, schemaElement, JsonDocument.Parse(fine).RootElement);
        var refused = Assert.Throws<PliersValidationException>(() => validator.Validate(definition, 1, schemaElement, JsonDocument.Parse(evil).RootElement));
        Assert.Contains(refused.Errors, e => e.Keyword == "pattern");
    }

    [Fact]
    public async Task Lengths_count_code_points_in_both_layers()
    {
        var schema = """{"type": "object", "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 3}}}""";
        var cases = new (string Value, bool Valid)[]
        {
            ("e\u0301", true),                 // two code points (one grapheme)
            ("👨‍👩‍👧‍👦", false),                // seven code points (one grapheme)
            ("😀", false),                      // one code point (two UTF-16 units)
            ("😀😀", true),
            ("😀😀😀", true),
            ("😀😀😀😀", false),
            ("ab\n", true),
            ("Ễ", false),
        };
        var built = SchemaValidator.Build(JsonDocument.Parse(schema).RootElement);
        foreach (var (value, valid) in cases)
        {
            var doc = new JsonObject { ["s"] = value }.ToJsonString();
            Assert.Equal(valid, built.Evaluate(JsonDocument.Parse(doc).RootElement).IsValid);
            Assert.Equal(valid, await postgres.ScalarAsync<bool>($"select {S}.jsonb_matches_schema('{schema}', '{doc.Replace("'", "''", StringComparison.Ordinal)}')"));
            Assert.Equal(valid, await postgres.ScalarAsync<bool>($"select ({S}._jsv_run('{schema}', '{doc.Replace("'", "''", StringComparison.Ordinal)}', '{{}}', false) ->> 'ok')::boolean"));
        }
    }

    [Fact]
    public async Task A_name_form_accepts_names_in_every_script_in_both_layers_and_the_trigger()
    {
        var forms = _host.Services.GetRequiredService<IFormDefinitionRepository>();
        var submissions = _host.Services.GetRequiredService<IFormSubmissionRepository>();
        var draft = await forms.CreateAsync("names", JsonDocument.Parse("""{"schema": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "pattern": "^[\\p{L} '-]+$", "maxLength": 40}, "note": {"type": "string", "pattern": "^[^<>]*$"}}}}""").RootElement, null, Ct);
        await forms.PublishAsync(draft.Id, null, Ct);
        foreach (var name in new[] { "Nguyễn Văn Ễ", "ẞtraße", "پارسا", "ნინო", "ሰላም ዓለም", "ἀλέξανδρος", "O'Brien-Smith" })
        {
            var created = await submissions.CreateAsync("names", JsonDocument.Parse(new JsonObject { ["name"] = name, ["note"] = "line 1\nline 2" }.ToJsonString()).RootElement, null, Ct);
            Assert.Equal(name, created.Data.GetProperty("name").GetString());
        }

        var refused = await Assert.ThrowsAsync<PliersValidationException>(() => submissions.CreateAsync("names", JsonDocument.Parse("""{"name": "R2-D2"}""").RootElement, null, Ct));
        Assert.Contains(refused.Errors, e => e.Path == "/name" && e.Keyword == "pattern");

        // The database alone (hand-written SQL) agrees, in the trigger.
        var id = await postgres.ScalarAsync<Guid>($"select id from {S}.form_definitions where name = 'names'");
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 1, '{"name": "R2-D2"}')"""));
        Assert.Equal("form_submissions_data_schema", error.ConstraintName);
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 1, '{"name": "Ἀλέξανδρος ὁ Μέγας", "note": "a\nb"}')""");
    }

    [Fact]
    public async Task A_schema_with_an_invalid_or_unsupported_pattern_is_refused_naming_it()
    {
        var forms = _host.Services.GetRequiredService<IFormDefinitionRepository>();
        foreach (var (pattern, pointer) in new[] { ("a{", "/schema"), (@"\p{Script=Greek}", "/schema") })
        {
            var definition = new JsonObject { ["schema"] = new JsonObject { ["properties"] = new JsonObject { ["x"] = new JsonObject { ["pattern"] = pattern } } } };
            var e = await Assert.ThrowsAsync<PliersValidationException>(() => forms.CreateAsync("bad-" + pattern.Length, JsonDocument.Parse(definition.ToJsonString()).RootElement, null, Ct));
            Assert.Contains(e.Errors, error => error.Path.StartsWith(pointer, StringComparison.Ordinal));
            Assert.Contains("pattern", e.Message + string.Join(' ', e.Errors.Select(x => x.Message)), StringComparison.OrdinalIgnoreCase);
        }

        var refused = await Assert.ThrowsAsync<PliersValidationException>(() => forms.CreateAsync("draft7", JsonDocument.Parse("""{"schema": {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}}""").RootElement, null, Ct));
        Assert.Contains(refused.Errors, e => e.Path == "/schema/$schema");
    }

    [Fact]
    public async Task The_optional_regex_files_of_the_official_suite_pass_in_both_layers()
    {
        var failures = new List<string>();
        var count = 0;
        foreach (var file in new[] { "ecmascript-regex.json", "non-bmp-regex.json", Path.Combine("format", "ecmascript-regex.json") })
        {
            var groups = JsonNode.Parse(File.ReadAllText(Path.Combine(Conformance.Suite, "tests", "draft2020-12", "optional", file)))!.AsArray();
            foreach (var group in groups)
            {
                var schemaText = group!["schema"]!.ToJsonString();
                if (schemaText.Contains("\"format\"", StringComparison.Ordinal))
                {
                    continue; // formats are issue 12's next step; this file checks patterns
                }

                var built = SchemaValidator.Build(JsonDocument.Parse(schemaText).RootElement);
                foreach (var test in group["tests"]!.AsArray())
                {
                    var data = test!["data"]!.ToJsonString();
                    var expected = test["valid"]!.GetValue<bool>();
                    count++;
                    var app = built.Evaluate(JsonDocument.Parse(data).RootElement).IsValid;
                    var db = await postgres.ScalarAsync<bool>($"select {S}.jsonb_matches_schema('{schemaText.Replace("'", "''", StringComparison.Ordinal)}', '{data.Replace("'", "''", StringComparison.Ordinal)}')");
                    if (app != expected || db != expected)
                    {
                        failures.Add($"{file}: {group["description"]} / {test["description"]}: expected {expected}, app {app}, database {db}");
                    }
                }
            }
        }

        Console.WriteLine($"Optional regex suite: {count - failures.Count}/{count}");
        Assert.True(count > 50, $"only {count} cases");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static bool Try(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(s[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Every <c>pattern</c> value and <c>patternProperties</c> key in the official suite (draft 2020-12, with optional).</summary>
    internal static IEnumerable<string> SuitePatterns()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Conformance.Suite, "tests", "draft2020-12"), "*.json", SearchOption.AllDirectories))
        {
            foreach (var pattern in Collect(JsonNode.Parse(File.ReadAllText(file))))
            {
                yield return pattern;
            }
        }

        static IEnumerable<string> Collect(JsonNode? node)
        {
            switch (node)
            {
                case JsonObject o:
                    foreach (var (k, v) in o)
                    {
                        if (k == "pattern" && v is JsonValue value && value.TryGetValue<string>(out var p))
                        {
                            yield return p;
                        }
                        else if (k == "patternProperties" && v is JsonObject keys)
                        {
                            foreach (var (key, _) in keys)
                            {
                                yield return key;
                            }
                        }

                        foreach (var inner in Collect(v))
                        {
                            yield return inner;
                        }
                    }

                    break;
                case JsonArray a:
                    foreach (var item in a)
                    {
                        foreach (var inner in Collect(item))
                        {
                            yield return inner;
                        }
                    }

                    break;
            }
        }
    }

    /// <summary>The string test data of the suite's regex files.</summary>
    private static IEnumerable<string> SuiteStrings()
    {
        foreach (var file in new[] { "ecmascript-regex.json", "non-bmp-regex.json" })
        {
            foreach (var group in JsonNode.Parse(File.ReadAllText(Path.Combine(Conformance.Suite, "tests", "draft2020-12", "optional", file)))!.AsArray())
            {
                foreach (var test in group!["tests"]!.AsArray())
                {
                    if (test!["data"] is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        yield return s;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Node's RegExp with the u flag on every pattern and string (null where the pattern does not compile), or null
    /// when Node is not installed outside CI (CI installs it: .ci/run).
    /// </summary>
    private static async Task<bool?[]?[]?> NodeAsync(string[] patterns, string[] strings)
    {
        var node = new[] { "node", "nodejs" }.Select(FindOnPath).FirstOrDefault(p => p is not null);
        if (node is null)
        {
            Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), "Node.js is required in CI as the third opinion on ECMA-262 (install the nodejs package).");
            return null;
        }

        var input = Path.GetTempFileName();
        await File.WriteAllTextAsync(input, JsonSerializer.Serialize(new { patterns, strings }), Ct);
        const string Script = """
            const fs = require('fs');
            const { patterns, strings } = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
            const out = patterns.map(p => { let r; try { r = new RegExp(p, 'u'); } catch { return null; } return strings.map(s => r.test(s)); });
            process.stdout.write(JSON.stringify(out));
            """;
        try
        {
            var start = new ProcessStartInfo(node, ["-e", Script, input]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync(Ct);
            var error = await process.StandardError.ReadToEndAsync(Ct);
            await process.WaitForExitAsync(Ct);
            Assert.True(process.ExitCode == 0, "node failed: " + error);
            return JsonSerializer.Deserialize<bool?[]?[]>(output);
        }
        finally
        {
            File.Delete(input);
        }
    }

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);
}
