using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Validation;

/// <summary>
/// The database validator in the query shapes callers write (issue 12): the schema as a prepared statement's
/// parameter, a stored definition per row (<c>jsonb_matches_definition</c>), and the set-based check of inserted
/// submissions (one statement, many rows, COPY).
/// </summary>
public sealed class ValidationShapesTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<Guid> DefinitionAsync(string name, string schemaText, string status = "active", int version = 1)
    {
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand($"insert into {S}.form_definitions (name, version, definition, status) values (@name, @version, jsonb_build_object('schema', @schema::jsonb), @status) returning id", connection);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("schema", schemaText);
        command.Parameters.AddWithValue("status", status);
        return (Guid)(await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task A_prepared_statement_with_the_schema_as_a_parameter_gives_the_same_verdicts_on_every_execution()
    {
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand($"select count(*) filter (where {S}.jsonb_matches_schema(@schema::jsonb, d)) from unnest(@docs::jsonb[]) d", connection);
        command.Parameters.Add(new NpgsqlParameter("schema", NpgsqlDbType.Text));
        command.Parameters.Add(new NpgsqlParameter("docs", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = new[] { """{"n": 1}""", """{"n": 7}""", """{"n": "x"}""", "{}" } });
        await command.PrepareAsync(Ct);

        // Past the fifth execution PostgreSQL may choose a generic plan; the verdicts must not change.
        for (var i = 0; i < 12; i++)
        {
            var max = i % 3;
            command.Parameters["schema"].Value = """{"properties": {"n": {"type": "integer", "maximum": """ + max + "}}}";
            var expected = max >= 1 ? 2L : 1L; // {} always; {"n": 1} when max >= 1
            Assert.Equal(expected, (long)(await command.ExecuteScalarAsync(Ct))!);
        }
    }

    [Fact]
    public async Task Stored_submissions_that_a_draft_would_refuse_are_found_with_the_definitions_compiled_columns()
    {
        var active = await DefinitionAsync("intake", """{"type": "object", "properties": {"age": {"type": "integer", "minimum": 0}}}""");
        await DefinitionAsync("intake", """{"type": "object", "required": ["age"], "properties": {"age": {"type": "integer", "minimum": 18}}}""", "draft", 2);
        await DefinitionAsync("recursive", """{"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}, "v": {"type": "integer"}}}}, "$ref": "#/$defs/n"}""");
        await postgres.ExecuteAsync($$"""
            insert into {{S}}.form_submissions (form_definition_id, form_version, data)
            select '{{active}}', 1, case when i % 3 = 0 then '{}'::jsonb else jsonb_build_object('age', i) end from generate_series(1, 60) i
            """);

        // Which stored submissions of version 1 would version 2 refuse? Compiled columns, no compilation per row.
        var failing = await postgres.ScalarAsync<long>($"""
            select count(*) from {S}.form_submissions s
            join {S}.form_definitions draft on draft.name = 'intake' and draft.version = 2
            where s.form_definition_id = '{active}' and not {S}.jsonb_matches_definition(draft, s.data)
            """);
        var expected = Enumerable.Range(1, 60).Count(i => i % 3 == 0 || i < 18);
        Assert.Equal(expected, failing);

        // The same verdicts as compiling the schema itself, also for a schema only the interpreter takes ($ref).
        Assert.Equal(0L, await postgres.ScalarAsync<long>($$"""
            select count(*) from {{S}}.form_definitions f
            cross join (values ('{"age": 20}'::jsonb), ('{"age": 3}'), ('{}'), ('{"next": {"v": "x"} }'), ('{"next": {"next": {"v": 2} } }'), ('[]')) as t(d)
            where {{S}}.jsonb_matches_definition(f, t.d) is distinct from {{S}}.jsonb_matches_schema(f.definition -> 'schema', t.d)
            """));
        Assert.Null(await postgres.ScalarAsync<bool?>($"select {S}.jsonb_matches_definition(f, null) from {S}.form_definitions f limit 1"));
    }

    [Fact]
    public async Task One_invalid_row_refuses_the_whole_multi_row_insert_and_copy_naming_its_error()
    {
        var form = await DefinitionAsync("contact", FormSchemas.All.Single(f => f.Name == "contact").Schema);
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($$"""
            insert into {{S}}.form_submissions (form_definition_id, form_version, data) values
                ('{{form}}', 1, '{"name": "Ada", "email": "ada@example.com"}'),
                ('{{form}}', 1, '{"name": "Bob", "email": "bob@example.com", "age": 200}'),
                ('{{form}}', 1, '{"name": "Cy", "email": "cy@example.com"}')
            """));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("form_submissions_data_schema", error.ConstraintName);
        Assert.Contains("/age", error.MessageText, StringComparison.Ordinal);
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));

        await using (var connection = await postgres.OpenAsync())
        {
            var copy = Assert.ThrowsAnyAsync<PostgresException>(async () =>
            {
                await using var writer = await connection.BeginTextImportAsync($"copy {S}.form_submissions (form_definition_id, form_version, data) from stdin", Ct);
                await writer.WriteLineAsync($$"""{{form}}	1	{"name": "Ada", "email": "ada@example.com"}""");
                await writer.WriteLineAsync($$"""{{form}}	1	{"name": "Bob"}""");
            });
            Assert.Equal("form_submissions_data_schema", (await copy).ConstraintName);
        }

        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));

        // Valid rows go in together; an update of the data is still checked row by row, a status change is not.
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) select '{{form}}', 1, jsonb_build_object('name', 'N' || i, 'email', i || '@example.com') from generate_series(1, 50) i""");
        Assert.Equal(50L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_submissions"));
        var update = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync($$"""update {{S}}.form_submissions set data = data || '{"age": -1}' where data ->> 'name' = 'N7'"""));
        Assert.Equal("form_submissions_data_schema", update.ConstraintName);
        await postgres.ExecuteAsync($"update {S}.form_submissions set status = 'submitted'");
    }
}
