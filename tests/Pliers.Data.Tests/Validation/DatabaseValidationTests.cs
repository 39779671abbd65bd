using Npgsql;
using Pliers.Data.Internal;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Validation;

public sealed class DatabaseValidationTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> ContactFormAsync()
    {
        var (_, schema, _) = FormSchemas.All.Single(f => f.Name == "contact");
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand($"insert into {S}.form_definitions (name, version, definition, status) values ('contact', 1, jsonb_build_object('schema', @schema::jsonb), 'active') returning id", connection);
        command.Parameters.AddWithValue("schema", schema);
        return (Guid)(await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task The_trigger_refuses_invalid_data_written_with_plain_sql_and_names_every_field()
    {
        var form = await ContactFormAsync();
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{form}}', 1, '{"name": "Ada", "email": "ada@example.org"}')""");

        // Include Error Detail lets Npgsql pass the trigger's JSON list of errors through.
        var builder = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { IncludeErrorDetail = true };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var insert = new NpgsqlCommand($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{form}}', 1, '{"email": "nope", "age": 200, "surprise": 1}')""", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync(Ct));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("form_submissions_data_schema", error.ConstraintName);

        var translated = Assert.IsType<PliersValidationException>(PostgresErrors.Translate(error));
        Assert.Contains(translated.Errors, e => e is { Path: "/name", Keyword: "required" });
        Assert.Contains(translated.Errors, e => e is { Path: "/email", Keyword: "pattern" });
        Assert.Contains(translated.Errors, e => e is { Path: "/age", Keyword: "maximum" });
        Assert.Contains(translated.Errors, e => e is { Path: "/surprise", Keyword: "additionalProperties" });

        // Updating data is checked too; changing only the status is not re-validated.
        var update = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($$"""update {{S}}.form_submissions set data = '{"name": ""}'"""));
        Assert.Equal("form_submissions_data_schema", update.ConstraintName);
        await postgres.ExecuteAsync($"update {S}.form_submissions set status = 'submitted'");
        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
    }

    [Fact]
    public async Task Without_error_detail_the_translation_still_has_every_error_with_its_detail()
    {
        var form = await ContactFormAsync();
        var builder = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { IncludeErrorDetail = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var insert = new NpgsqlCommand($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{form}}', 1, '{"name": "Ada"}')""", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => insert.ExecuteNonQueryAsync(Ct));
        Assert.StartsWith("Detail redacted", error.Detail, StringComparison.Ordinal);
        var translated = Assert.IsType<PliersValidationException>(PostgresErrors.Translate(error));
        var single = Assert.Single(translated.Errors);
        Assert.Equal(("/email", "required", "\"email\" is required"), (single.Path, single.Keyword, single.Message));
        Assert.Equal("email", single.Detail!.Value.GetProperty("missing").GetString());
    }

    [Fact]
    public async Task Schema_errors_lists_path_keyword_and_message()
    {
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand(
            $$$"""select path, keyword, message from {{{S}}}.jsonb_schema_errors('{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}, "b~/c": {"minimum": 3}}, "required": ["z"]}', '{"a": [1, "x"], "b~/c": 2}') order by path""",
            connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<(string Path, string Keyword, string Message)>();
        while (await reader.ReadAsync(Ct))
        {
            rows.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
        }

        Assert.Equal(["/a/1", "/b~0~1c", "/z"], rows.Select(r => r.Path));
        Assert.Equal(["type", "minimum", "required"], rows.Select(r => r.Keyword));
        Assert.All(rows, r => Assert.False(string.IsNullOrWhiteSpace(r.Message)));
    }

    [Fact]
    public async Task The_functions_are_immutable_labelled_for_parallel_use_as_they_are_and_null_in_null_out()
    {
        // jsonb_schema_errors runs the interpreter only: parallel safe. jsonb_matches_schema compiles the schema with
        // functions that catch errors (subtransactions): parallel unsafe (see the parallel-plan test below).
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '{_host.Schema}' and p.proname in ('jsonb_matches_schema', 'jsonb_schema_errors') and p.provolatile <> 'i'"));
        Assert.Equal("s", await postgres.ScalarAsync<string>($"select string_agg(distinct p.proparallel::text, '') from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '{_host.Schema}' and p.proname = 'jsonb_schema_errors'"));
        Assert.Equal("u", await postgres.ScalarAsync<string>($"select string_agg(distinct p.proparallel::text, '') from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '{_host.Schema}' and p.proname = 'jsonb_matches_schema'"));
        Assert.Null(await postgres.ScalarAsync<bool?>($"select {S}.jsonb_matches_schema(null, '{{}}')"));
        Assert.True(await postgres.ScalarAsync<bool>($$"""select {{S}}.jsonb_matches_schema('{"type": "string"}', '"x"')"""));
    }

    [Fact]
    public async Task Every_function_with_an_exception_block_is_parallel_unsafe()
    {
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = '{_host.Schema}' and p.prolang = (select oid from pg_language where lanname = 'plpgsql') and p.prosrc ~* '\\mexception\\s+when\\M' and p.proparallel <> 'u'"));
    }

    [Fact]
    public async Task A_per_row_schema_validation_under_a_forced_parallel_plan_gives_verdicts_not_a_subtransaction_error()
    {
        // A table of (schema, document) pairs, each row with its own schema, scanned with every planner knob set
        // for a parallel plan (what a few hundred thousand rows get on their own).
        await postgres.ExecuteAsync($$"""
            create table {{S}}.parallel_probe as
            select jsonb_build_object('type', 'object', 'properties', jsonb_build_object('n', jsonb_build_object('type', 'integer', 'maximum', i % 50))) as schema,
                   jsonb_build_object('n', i % 100) as data
            from generate_series(1, 20000) as i;
            analyze {{S}}.parallel_probe;
            """);
        await using var connection = await postgres.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        var forceSetting = connection.PostgreSqlVersion.Major >= 16 ? "debug_parallel_query" : "force_parallel_mode";
        await using (var settings = new NpgsqlCommand($"set local parallel_setup_cost = 0; set local parallel_tuple_cost = 0; set local min_parallel_table_scan_size = 0; set local max_parallel_workers_per_gather = 2; set local {forceSetting} = on", connection, transaction))
        {
            await settings.ExecuteNonQueryAsync(Ct);
        }

        await using var count = new NpgsqlCommand($"select count(*) filter (where {S}.jsonb_matches_schema(schema, data)), count(*) from {S}.parallel_probe", connection, transaction);
        await using var reader = await count.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));

        // n = i % 100 matches when n <= i % 50: for i % 100 < 50 always (n = i % 50), never otherwise.
        Assert.Equal(10000L, reader.GetInt64(0));
        Assert.Equal(20000L, reader.GetInt64(1));
    }

    [Fact]
    public async Task An_unresolvable_reference_is_a_clear_error_not_a_verdict()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ScalarAsync<bool>($$"""select {{S}}.jsonb_matches_schema('{"$ref": "https://example.com/remote.json"}', '1')"""));
        Assert.Equal(PostgresErrorCodes.InvalidParameterValue, error.SqlState);
        Assert.Contains("cannot be resolved", error.MessageText, StringComparison.Ordinal);
    }
}
