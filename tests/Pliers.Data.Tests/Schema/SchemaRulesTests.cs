using Npgsql;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Schema;

/// <summary>
/// Every rule of the schema, tried with plain SQL that bypasses the library: what a careless script or a
/// second application could send.
/// </summary>
public sealed class SchemaRulesTests(PostgresFixture postgres, MigratedSchema schema) : IAsyncLifetime, IClassFixture<MigratedSchema>
{
    private PliersHost _host = null!;

    private string S => $"\"{_host.Schema}\"";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await schema.ResetAsync();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task<PostgresException> RefusedAsync(string sql)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => postgres.ExecuteAsync(sql));
        return error;
    }

    private async Task<Guid> DefinitionAsync(string name, int version = 1, string status = "draft", string definition = """{"schema": {"type": "object"}}""")
    {
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"insert into {S}.form_definitions (name, version, definition, status) values (@name, @version, @definition::jsonb, @status) returning id",
            connection);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("definition", definition);
        command.Parameters.AddWithValue("status", status);
        return (Guid)(await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task Only_one_version_of_a_name_can_be_active()
    {
        await DefinitionAsync("intake", 1, "active");
        await DefinitionAsync("intake", 2, "draft");
        await DefinitionAsync("other", 1, "active");

        var error = await RefusedAsync($"update {S}.form_definitions set status = 'active' where name = 'intake' and version = 2");
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
        Assert.Equal("form_definitions_one_active_per_name", error.ConstraintName);

        // Archive first, then publish: allowed in one transaction.
        await postgres.ExecuteAsync($"""
            begin;
            update {S}.form_definitions set status = 'archived' where name = 'intake' and version = 1;
            update {S}.form_definitions set status = 'active' where name = 'intake' and version = 2;
            commit;
            """);
        Assert.Equal(2, await postgres.ScalarAsync<int>($"select version from {S}.form_definitions where name = 'intake' and status = 'active'"));
    }

    [Theory]
    [InlineData("aggregate_type", 100, "events_aggregate_type_length")]
    [InlineData("event_type", 200, "events_event_type_length")]
    public async Task Event_type_columns_are_text_with_a_length_check(string column, int limit, string constraint)
    {
        Assert.Equal("text", await postgres.ScalarAsync<string>($"select data_type from information_schema.columns where table_schema = '{_host.Schema}' and table_name = 'events' and column_name = '{column}'"));
        var ok = new string('x', limit);
        var tooLong = new string('x', limit + 1);
        string Insert(string value) =>
            $$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version) values (gen_random_uuid(), '{{(column == "aggregate_type" ? value : "t")}}', '{{(column == "event_type" ? value : "e")}}', '{}', 1)""";
        await postgres.ExecuteAsync(Insert(ok));
        var error = await RefusedAsync(Insert(tooLong));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal(constraint, error.ConstraintName);
    }

    [Theory]
    [InlineData("form_definitions", "status")]
    [InlineData("form_submissions", "status")]
    [InlineData("form_submissions", "title")]
    public async Task Card_text_columns_are_text(string table, string column) =>
        Assert.Equal("text", await postgres.ScalarAsync<string>($"select data_type from information_schema.columns where table_schema = '{_host.Schema}' and table_name = '{table}' and column_name = '{column}'"));

    [Fact]
    public async Task Name_and_version_are_unique()
    {
        await DefinitionAsync("intake", 1);
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync("intake", 1));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
        Assert.Equal("form_definitions_name_version_key", error.ConstraintName);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(" leading")]
    [InlineData("trailing ")]
    [InlineData("tab\t")]
    public async Task A_blank_or_untrimmed_name_is_refused(string name)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync(name));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("form_definitions_name_check", error.ConstraintName);
    }

    [Fact]
    public async Task A_name_over_100_characters_is_refused()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync(new string('n', 101)));
        Assert.Equal(PostgresErrorCodes.StringDataRightTruncation, error.SqlState);
        await DefinitionAsync(new string('n', 100));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("{}")]
    [InlineData("""{"schema": "not a schema"}""")]
    [InlineData("""{"schema": null}""")]
    public async Task A_definition_must_be_an_object_carrying_a_schema(string definition)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync("bad", 1, "draft", definition));
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal("form_definitions_definition_check", error.ConstraintName);
    }

    [Theory]
    [InlineData("published")]
    [InlineData("DRAFT")]
    public async Task An_unknown_definition_status_is_refused(string status)
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync("s", 1, status));
        Assert.Equal("form_definitions_status_check", error.ConstraintName);
    }

    [Fact]
    public async Task A_version_below_one_is_refused()
    {
        var error = await Assert.ThrowsAsync<PostgresException>(() => DefinitionAsync("v", 0));
        Assert.Equal("form_definitions_version_check", error.ConstraintName);
    }

    [Fact]
    public async Task A_draft_can_be_edited_and_its_updated_at_moves()
    {
        var id = await DefinitionAsync("draft-form");
        var before = await postgres.ScalarAsync<DateTime>($"select updated_at from {S}.form_definitions where id = '{id}'");
        await postgres.ExecuteAsync($$"""update {{S}}.form_definitions set definition = '{"schema": true, "fields": []}' where id = '{{id}}'""");
        var after = await postgres.ScalarAsync<DateTime>($"select updated_at from {S}.form_definitions where id = '{id}'");
        Assert.True(after > before);
        var created = await postgres.ScalarAsync<DateTime>($"select created_at from {S}.form_definitions where id = '{id}'");
        Assert.True(after > created);
    }

    [Theory]
    [InlineData("active")]
    [InlineData("archived")]
    public async Task A_published_or_archived_definition_is_immutable(string status)
    {
        var id = await DefinitionAsync("frozen", 1, status);
        var edit = await RefusedAsync($$"""update {{S}}.form_definitions set definition = '{"schema": false}' where id = '{{id}}'""");
        Assert.Equal(PostgresErrorCodes.RestrictViolation, edit.SqlState);
        Assert.Equal("form_definitions_immutable", edit.ConstraintName);

        var delete = await RefusedAsync($"delete from {S}.form_definitions where id = '{id}'");
        Assert.Equal("form_definitions_immutable", delete.ConstraintName);

        var backToDraft = await RefusedAsync($"update {S}.form_definitions set status = 'draft' where id = '{id}'");
        Assert.Equal("form_definitions_status_transition", backToDraft.ConstraintName);
    }

    [Fact]
    public async Task Status_moves_only_forward()
    {
        var id = await DefinitionAsync("flow");
        await postgres.ExecuteAsync($"update {S}.form_definitions set status = 'active' where id = '{id}'");
        await postgres.ExecuteAsync($"update {S}.form_definitions set status = 'archived' where id = '{id}'");
        var reactivate = await RefusedAsync($"update {S}.form_definitions set status = 'active' where id = '{id}'");
        Assert.Equal("form_definitions_status_transition", reactivate.ConstraintName);
    }

    [Fact]
    public async Task A_draft_can_be_deleted_but_its_identity_cannot_change()
    {
        var id = await DefinitionAsync("identity");
        var rename = await RefusedAsync($"update {S}.form_definitions set name = 'renamed' where id = '{id}'");
        Assert.Equal("form_definitions_identity_immutable", rename.ConstraintName);
        var bump = await RefusedAsync($"update {S}.form_definitions set version = 7 where id = '{id}'");
        Assert.Equal("form_definitions_identity_immutable", bump.ConstraintName);
        await postgres.ExecuteAsync($"delete from {S}.form_definitions where id = '{id}'");
        Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from {S}.form_definitions"));
    }

    [Fact]
    public async Task A_submission_must_reference_an_existing_definition_version()
    {
        var id = await DefinitionAsync("ref", 1, "active");
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 1, '{}')""");

        var wrongVersion = await RefusedAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 2, '{}')""");
        Assert.Equal(PostgresErrorCodes.ForeignKeyViolation, wrongVersion.SqlState);
        Assert.Equal("form_submissions_form_definition_fkey", wrongVersion.ConstraintName);

        var unknown = await RefusedAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values (gen_random_uuid(), 1, '{}')""");
        Assert.Equal("form_submissions_form_definition_fkey", unknown.ConstraintName);
    }

    [Fact]
    public async Task A_draft_definition_with_submissions_cannot_be_deleted()
    {
        var id = await DefinitionAsync("has-data");
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 1, '{}')""");
        var error = await RefusedAsync($"delete from {S}.form_definitions where id = '{id}'");
        Assert.Equal(PostgresErrorCodes.ForeignKeyViolation, error.SqlState);
    }

    [Theory]
    [InlineData("[]", "form_submissions_data_check")]
    [InlineData("\"text\"", "form_submissions_data_check")]
    [InlineData("null", "form_submissions_data_check")]
    public async Task Submission_data_must_be_an_object(string data, string constraint)
    {
        var id = await DefinitionAsync("obj");
        var error = await RefusedAsync($"insert into {S}.form_submissions (form_definition_id, form_version, data) values ('{id}', 1, '{data}')");
        Assert.Equal(PostgresErrorCodes.CheckViolation, error.SqlState);
        Assert.Equal(constraint, error.ConstraintName);
    }

    [Fact]
    public async Task An_unknown_submission_status_is_refused()
    {
        var id = await DefinitionAsync("st");
        var error = await RefusedAsync($"insert into {S}.form_submissions (form_definition_id, form_version, data, status) values ('{id}', 1, '{{}}', 'pending')");
        Assert.Equal("form_submissions_status_check", error.ConstraintName);
        foreach (var status in new[] { "draft", "submitted", "approved", "rejected", "archived" })
        {
            await postgres.ExecuteAsync($"insert into {S}.form_submissions (form_definition_id, form_version, data, status) values ('{id}', 1, '{{}}', '{status}')");
        }
    }

    [Theory]
    [InlineData("""{"priority": 3}""", 3)]
    [InlineData("""{"priority": -7}""", -7)]
    [InlineData("""{"priority": 2.0}""", 2)]
    [InlineData("""{"priority": 2147483647}""", 2147483647)]
    [InlineData("""{"priority": 1.5}""", null)]
    [InlineData("""{"priority": 2147483648}""", null)]
    [InlineData("""{"priority": 1e40}""", null)]
    [InlineData("""{"priority": "high"}""", null)]
    [InlineData("""{"priority": "5"}""", null)]
    [InlineData("""{"priority": true}""", null)]
    [InlineData("""{"priority": null}""", null)]
    [InlineData("""{"priority": [1]}""", null)]
    [InlineData("""{}""", null)]
    public async Task Priority_is_the_integer_in_the_data_or_null_never_a_cast_error(string data, int? expected)
    {
        var id = await DefinitionAsync("prio");
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"insert into {S}.form_submissions (form_definition_id, form_version, data) values (@id, 1, @data::jsonb) returning priority",
            connection);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("data", data);
        var priority = await command.ExecuteScalarAsync(Ct);
        Assert.Equal(expected, priority is DBNull ? null : (int?)priority);
    }

    [Theory]
    [InlineData("""{"title": "Broken window"}""", "Broken window")]
    [InlineData("""{"title": 42}""", null)]
    [InlineData("""{"title": {"text": "x"}}""", null)]
    [InlineData("""{}""", null)]
    public async Task Title_is_the_string_in_the_data_or_null(string data, string? expected)
    {
        var id = await DefinitionAsync("title");
        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"insert into {S}.form_submissions (form_definition_id, form_version, data) values (@id, 1, @data::jsonb) returning title",
            connection);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("data", data);
        var title = await command.ExecuteScalarAsync(Ct);
        Assert.Equal(expected, title as string);
    }

    [Fact]
    public async Task A_huge_title_is_cut_to_500_characters_and_still_indexed()
    {
        var id = await DefinitionAsync("long-title");
        var title = new string('t', 50_000);
        await postgres.ExecuteAsync($$"""insert into {{S}}.form_submissions (form_definition_id, form_version, data) values ('{{id}}', 1, '{"title": "{{title}}"}')""");
        Assert.Equal(500, await postgres.ScalarAsync<int>($"select length(title) from {S}.form_submissions"));
    }

    [Fact]
    public async Task Generated_columns_cannot_be_written_directly()
    {
        var id = await DefinitionAsync("gen");
        var error = await RefusedAsync($"insert into {S}.form_submissions (form_definition_id, form_version, data, priority) values ('{id}', 1, '{{}}', 5)");
        Assert.Equal("428C9", error.SqlState);
    }

    [Fact]
    public async Task Submission_updated_at_moves_on_update()
    {
        var id = await DefinitionAsync("upd");
        await postgres.ExecuteAsync($"insert into {S}.form_submissions (form_definition_id, form_version, data) values ('{id}', 1, '{{}}')");
        await postgres.ExecuteAsync($"update {S}.form_submissions set status = 'submitted'");
        Assert.True(await postgres.ScalarAsync<bool>($"select updated_at > created_at from {S}.form_submissions"));
    }

    private string InsertEvent(Guid aggregate, int version, string eventType = "form.submission.created") =>
        $$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version) values ('{{aggregate}}', 'form_submission', '{{eventType}}', '{}', {{version}})""";

    [Fact]
    public async Task Events_cannot_be_updated_deleted_or_truncated()
    {
        var aggregate = Guid.NewGuid();
        await postgres.ExecuteAsync(InsertEvent(aggregate, 1));

        foreach (var sql in new[]
                 {
                     $"update {S}.events set event_type = 'tampered'",
                     $"delete from {S}.events",
                     $"truncate {S}.events",
                 })
        {
            var error = await RefusedAsync(sql);
            Assert.Equal(PostgresErrorCodes.RestrictViolation, error.SqlState);
            Assert.Equal("events_append_only", error.ConstraintName);
        }

        Assert.Equal(1L, await postgres.ScalarAsync<long>($"select count(*) from {S}.events where event_type = 'form.submission.created'"));
    }

    [Fact]
    public async Task A_stream_version_is_taken_once_and_starts_at_one()
    {
        var aggregate = Guid.NewGuid();
        await postgres.ExecuteAsync(InsertEvent(aggregate, 1));
        var duplicate = await RefusedAsync(InsertEvent(aggregate, 1));
        Assert.Equal(PostgresErrorCodes.UniqueViolation, duplicate.SqlState);
        Assert.Equal("events_stream_version_key", duplicate.ConstraintName);

        var zero = await RefusedAsync(InsertEvent(Guid.NewGuid(), 0));
        Assert.Equal("events_event_version_check", zero.ConstraintName);

        var blankType = await RefusedAsync(InsertEvent(Guid.NewGuid(), 1, " "));
        Assert.Equal("events_event_type_check", blankType.ConstraintName);
    }

    [Fact]
    public async Task Events_get_an_increasing_position_and_the_writing_transaction_id()
    {
        var aggregate = Guid.NewGuid();
        await postgres.ExecuteAsync($"begin; {InsertEvent(aggregate, 1)}; {InsertEvent(aggregate, 2)}; commit;");
        await postgres.ExecuteAsync(InsertEvent(aggregate, 3));

        await using var connection = await postgres.OpenAsync();
        await using var command = new NpgsqlCommand($"select position, transaction_id::text from {S}.events order by event_version", connection);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<(long Position, ulong Transaction)>();
        while (await reader.ReadAsync(Ct))
        {
            rows.Add((reader.GetInt64(0), ulong.Parse(reader.GetString(1), System.Globalization.CultureInfo.InvariantCulture)));
        }

        Assert.Equal(3, rows.Count);
        Assert.True(rows[0].Position < rows[1].Position && rows[1].Position < rows[2].Position);
        Assert.Equal(rows[0].Transaction, rows[1].Transaction);
        Assert.True(rows[2].Transaction > rows[1].Transaction);

        var explicitPosition = await RefusedAsync($$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version, position) values (gen_random_uuid(), 't', 'e', '{}', 1, 1)""");
        Assert.Equal("428C9", explicitPosition.SqlState);
    }

    [Fact]
    public async Task Event_metadata_must_be_an_object_when_present()
    {
        var error = await RefusedAsync($$"""insert into {{S}}.events (aggregate_id, aggregate_type, event_type, event_data, event_version, metadata) values (gen_random_uuid(), 't', 'e', '{}', 1, '[1]')""");
        Assert.Equal("events_metadata_check", error.ConstraintName);
    }
}
