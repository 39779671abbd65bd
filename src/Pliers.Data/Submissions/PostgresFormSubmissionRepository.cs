using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Internal;
using Pliers.Data.Validation;
using static Pliers.Data.Internal.Db;

namespace Pliers.Data.Submissions;

/// <summary>PostgreSQL implementation of <see cref="IFormSubmissionRepository"/>.</summary>
internal sealed class PostgresFormSubmissionRepository : IFormSubmissionRepository
{
    internal const string AggregateType = "form_submission";
    private const string Columns = "id, form_definition_id, form_version, status, data, title, priority, created_at, updated_at, xmin";

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _read;
    private readonly PostgresEventStore _events;
    private readonly SchemaValidator _validator;
    private readonly PliersDataOptions _options;
    private readonly string _table;
    private readonly string _definitions;

    public PostgresFormSubmissionRepository(PliersDatabase database, PostgresEventStore events, SchemaValidator validator, PliersDataOptions options)
    {
        _dataSource = database.DataSource;
        _read = database.ReadDataSource;
        _events = events;
        _validator = validator;
        _options = options;
        _table = database.QuotedSchema + ".form_submissions";
        _definitions = database.QuotedSchema + ".form_definitions";
    }

    public Task<FormSubmission> CreateAsync(string formName, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync($"select id, version, status, definition -> 'schema', name from {_definitions} where name = @key and status = 'active' for share", P("key", FormName(formName)), formName, data, context, cancellationToken));

    public Task<FormSubmission> CreateAsync(Guid formDefinitionId, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync($"select id, version, status, definition -> 'schema', name from {_definitions} where id = @key for share", P("key", formDefinitionId), formDefinitionId.ToString(), data, context, cancellationToken));

    private async Task<FormSubmission> CreateCoreAsync(string lookup, NpgsqlParameter key, string what, JsonElement data, EventContext? context, CancellationToken cancellationToken)
    {
        var json = CheckDocument(data, string.Empty);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var definition = await ActiveDefinitionAsync(connection, transaction, lookup, key, what, cancellationToken).ConfigureAwait(false);
                _validator.Validate(definition.Id, definition.Version, definition.Schema, data);
                var id = Guid.CreateVersion7();
                return await WriteWithEventAsync(
                    transaction,
                    $"insert into {_table} (id, form_definition_id, form_version, data) values (@id, @definition, @version, @data::jsonb) returning {Columns}",
                    [P("id", id), P("definition", definition.Id), P("version", definition.Version), P("data", json)],
                    id,
                    Event("form.submission.created", context, new { FormDefinitionId = definition.Id, FormVersion = definition.Version, Form = definition.Name }),
                    cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task<FormSubmission> UpdateDataAsync(Guid id, uint rowVersion, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.update", () => UpdateDataCoreAsync(id, rowVersion, data, context, cancellationToken));

    private async Task<FormSubmission> UpdateDataCoreAsync(Guid id, uint rowVersion, JsonElement data, EventContext? context, CancellationToken cancellationToken)
    {
        var json = CheckDocument(data, string.Empty);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var current = await LockAsync(connection, transaction, id, cancellationToken).ConfigureAwait(false);
                if (current.Submission.RowVersion != rowVersion)
                {
                    throw new PliersConcurrencyException($"Submission {id} was changed by someone else; read it again.", id, rowVersion, current.Submission.RowVersion);
                }

                _validator.Validate(current.Submission.FormDefinitionId, current.Submission.FormVersion, current.Schema, data);
                return await WriteWithEventAsync(
                    transaction,
                    $"update {_table} set data = @data::jsonb where id = @id returning {Columns}",
                    [P("id", id), P("data", json)],
                    id,
                    Event("form.submission.updated", context, new { current.Submission.FormDefinitionId, current.Submission.FormVersion }),
                    cancellationToken).ConfigureAwait(false);
            }
        }
    }

    public Task<FormSubmission> ChangeStatusAsync(Guid id, uint rowVersion, SubmissionStatus status, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.status", () => ChangeStatusCoreAsync(id, rowVersion, status, context, cancellationToken));

    private async Task<FormSubmission> ChangeStatusCoreAsync(Guid id, uint rowVersion, SubmissionStatus status, EventContext? context, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var current = (await LockAsync(connection, transaction, id, cancellationToken).ConfigureAwait(false)).Submission;
                if (current.RowVersion != rowVersion)
                {
                    throw new PliersConcurrencyException($"Submission {id} was changed by someone else; read it again.", id, rowVersion, current.RowVersion);
                }

                if (!Allowed(current.Status, status))
                {
                    throw new PliersConflictException($"Submission {id} cannot move from {Name(current.Status)} to {Name(status)}.", "form_submissions_status_transition");
                }

                return await WriteWithEventAsync(
                    transaction,
                    $"update {_table} set status = @status where id = @id returning {Columns}",
                    [P("id", id), P("status", Name(status))],
                    id,
                    Event("form.submission." + Name(status), context, new { From = Name(current.Status), To = Name(status) }),
                    cancellationToken).ConfigureAwait(false);
            }
        }
    }

    internal static bool Allowed(SubmissionStatus from, SubmissionStatus to) => (from, to) switch
    {
        (SubmissionStatus.Draft, SubmissionStatus.Submitted) => true,
        (SubmissionStatus.Submitted, SubmissionStatus.Approved or SubmissionStatus.Rejected) => true,
        (not SubmissionStatus.Archived, SubmissionStatus.Archived) => true,
        _ => false,
    };

    public async Task<FormSubmission?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default)
    {
        await foreach (var row in ReadAsync($"select {Columns} from {_table} where id = @id", [P("id", id)], cancellationToken).ConfigureAwait(false))
        {
            return row;
        }

        return null;
    }

    public Task<Page<FormSubmission>> QueryAsync(SubmissionQuery query, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.query", () => QueryCoreAsync(query, cancellationToken));

    private async Task<Page<FormSubmission>> QueryCoreAsync(SubmissionQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 500)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be between 1 and 500.");
        }

        var (sql, parameters) = PageCommand(query);
        var rows = new List<FormSubmission>(query.PageSize + 1);
        await foreach (var row in ReadAsync(sql, parameters, cancellationToken).ConfigureAwait(false))
        {
            rows.Add(row);
        }

        var items = rows.Take(query.PageSize).ToArray();
        return new Page<FormSubmission>(items, rows.Count > query.PageSize ? Cursor(items[^1].CreatedAt.UtcTicks, items[^1].Id) : null);
    }

    /// <summary>The page query exactly as it runs (the plan tests EXPLAIN it).</summary>
    internal (string Sql, List<NpgsqlParameter> Parameters) PageCommand(SubmissionQuery query)
    {
        var (where, parameters) = Filter(query, withCursor: true);
        parameters.Add(P("limit", query.PageSize + 1));
        return ($"select {Columns} from {_table} where {where} order by created_at desc, id desc limit @limit", parameters);
    }

    public async Task<long> CountAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (where, parameters) = Filter(query, withCursor: false);
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = new NpgsqlCommand($"select count(*) from {_table} where {where}", connection);
            command.Parameters.AddRange(parameters.ToArray());
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }

    public IAsyncEnumerable<FormSubmission> StreamAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (where, parameters) = Filter(query, withCursor: false);
        return ReadAsync($"select {Columns} from {_table} where {where} order by created_at desc, id desc", parameters, cancellationToken);
    }

    public async Task<int> BulkImportAsync(string formName, IEnumerable<JsonElement> data, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var items = data.ToArray();
        var name = FormName(formName);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                var definition = await ActiveDefinitionAsync(connection, transaction, $"select id, version, status, definition -> 'schema', name from {_definitions} where name = @key and status = 'active' for share", P("key", name), name, cancellationToken).ConfigureAwait(false);

                // Validate everything before writing anything: all or nothing. The checks are CPU-bound and
                // independent, so they run on every core.
                var texts = new string[items.Length];
                var itemErrors = new IReadOnlyList<PliersValidationError>?[items.Length];
                Parallel.For(0, items.Length, new ParallelOptions { CancellationToken = cancellationToken }, i =>
                {
                    try
                    {
                        texts[i] = CheckDocument(items[i], "/" + i);
                        _validator.Validate(definition.Id, definition.Version, definition.Schema, items[i]);
                    }
                    catch (PliersValidationException e)
                    {
                        var prefix = "/" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                        itemErrors[i] = e.Errors.Select(x => x.Path.StartsWith(prefix, StringComparison.Ordinal) ? x : x with { Path = prefix + x.Path }).ToArray();
                    }
                });
                var errors = itemErrors.Where(e => e is not null).SelectMany(e => e!).Take(100).ToList();
                if (errors.Count > 0)
                {
                    throw new PliersValidationException($"The import was refused: {errors.Count} error(s), the first at {errors[0].Path}: {errors[0].Message}", errors);
                }

                var ids = items.Select(_ => Guid.CreateVersion7()).ToArray();
                try
                {
                    await using (var writer = await connection.BeginBinaryImportAsync($"copy {_table} (id, form_definition_id, form_version, data, status) from stdin (format binary)", cancellationToken).ConfigureAwait(false))
                    {
                        for (var i = 0; i < items.Length; i++)
                        {
                            await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(ids[i], NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(definition.Id, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(definition.Version, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(texts[i], NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync("submitted", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                        }

                        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                    }

                    var eventData = JsonSerializer.Serialize(new { FormDefinitionId = definition.Id, FormVersion = definition.Version, Form = definition.Name, Imported = true });
                    await using (var writer = await connection.BeginBinaryImportAsync($"copy {_events.Table} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id) from stdin (format binary)", cancellationToken).ConfigureAwait(false))
                    {
                        foreach (var id in ids)
                        {
                            await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(Guid.CreateVersion7(), NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(id, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(AggregateType, NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync("form.submission.created", NpgsqlDbType.Varchar, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(eventData, NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
                            await writer.WriteAsync(1, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                            await WriteNullableAsync(writer, context?.CorrelationId, cancellationToken).ConfigureAwait(false);
                            await WriteNullableAsync(writer, context?.CausationId, cancellationToken).ConfigureAwait(false);
                        }

                        await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
                {
                    throw translated;
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                _events.Announce(items.Length);
                return items.Length;
            }
        }

        static async Task WriteNullableAsync(NpgsqlBinaryImporter writer, Guid? value, CancellationToken cancellationToken)
        {
            if (value is { } v)
            {
                await writer.WriteAsync(v, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await writer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Builds the WHERE clause from parameters only. When a form is given, containment is written as the
    /// function jsonb_contains() (not the @> operator) so the planner cannot combine the GIN index with the
    /// (form, created_at) b-tree in a BitmapAnd: it walks the b-tree newest first and stops after a page.
    /// </summary>
    private (string Where, List<NpgsqlParameter> Parameters) Filter(SubmissionQuery query, bool withCursor)
    {
        var where = new List<string>();
        var parameters = new List<NpgsqlParameter>();
        var byForm = false;
        if (query.FormDefinitionId is { } definitionId)
        {
            byForm = true;
            parameters.Add(P("definition_id", definitionId));
            where.Add(query.AllVersions
                ? $"form_definition_id in (select id from {_definitions} where name = (select name from {_definitions} where id = @definition_id))"
                : "form_definition_id = @definition_id");
        }

        if (!string.IsNullOrEmpty(query.FormName))
        {
            byForm = true;
            parameters.Add(P("form_name", FormName(query.FormName)));
            where.Add($"form_definition_id in (select id from {_definitions} where name = @form_name)");
        }

        if (query.Status is { } status)
        {
            parameters.Add(P("status", Name(status)));
            where.Add("status = @status");
        }

        if (query.DataContains is { } contains)
        {
            if (contains.ValueKind != JsonValueKind.Object)
            {
                throw new PliersValidationException("DataContains must be a JSON object.", [new PliersValidationError("/dataContains", "type", "must be an object")]);
            }

            var json = contains.GetRawText();
            CheckJsonb(json, "/dataContains");
            parameters.Add(new NpgsqlParameter("contains", NpgsqlDbType.Jsonb) { Value = json });
            where.Add(byForm ? "jsonb_contains(data, @contains)" : "data @> @contains");
        }

        if (query.PriorityFrom is { } from)
        {
            parameters.Add(P("priority_from", from));
            where.Add("priority >= @priority_from");
        }

        if (query.PriorityTo is { } to)
        {
            parameters.Add(P("priority_to", to));
            where.Add("priority <= @priority_to");
        }

        if (!string.IsNullOrEmpty(query.TitlePrefix))
        {
            var escaped = query.TitlePrefix.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
            parameters.Add(P("title_prefix", escaped + "%"));
            where.Add("title like @title_prefix");
        }

        if (query.CreatedFrom is { } createdFrom)
        {
            parameters.Add(P("created_from", createdFrom.ToUniversalTime()));
            where.Add("created_at >= @created_from");
        }

        if (query.CreatedTo is { } createdTo)
        {
            parameters.Add(P("created_to", createdTo.ToUniversalTime()));
            where.Add("created_at < @created_to");
        }

        if (withCursor && query.Cursor is { } cursor)
        {
            var parts = ReadCursor(cursor, 2);
            if (!long.TryParse(parts[0], System.Globalization.CultureInfo.InvariantCulture, out var ticks) || !Guid.TryParse(parts[1], out var afterId))
            {
                throw BadCursor();
            }

            parameters.Add(P("after_created", new DateTimeOffset(ticks, TimeSpan.Zero)));
            parameters.Add(P("after_id", afterId));
            where.Add("(created_at, id) < (@after_created, @after_id)");
        }

        return (where.Count == 0 ? "true" : string.Join(" and ", where), parameters);
    }

    private static string CheckDocumentText(JsonElement data) => data.GetRawText();

    private string CheckDocument(JsonElement data, string path)
    {
        if (data.ValueKind != JsonValueKind.Object)
        {
            throw new PliersValidationException("Submission data must be a JSON object.", [new PliersValidationError(path, "type", $"expected an object, found {data.ValueKind.ToString().ToLowerInvariant()}")]);
        }

        var json = CheckDocumentText(data);
        JsonDepth.Check(json, _options.MaxDocumentDepth, path, "Submission data");
        var bytes = Encoding.UTF8.GetByteCount(json);
        if (bytes > _options.MaxDocumentBytes)
        {
            throw new PliersValidationException($"Submission data is {bytes} bytes; at most {_options.MaxDocumentBytes} are allowed (PliersDataOptions.MaxDocumentBytes).", [new PliersValidationError(path, "maxBytes", $"at most {_options.MaxDocumentBytes} bytes")]);
        }

        CheckJsonb(json, path);
        return json;
    }

    private sealed record Definition(Guid Id, int Version, JsonElement Schema, string Name);

    private async Task<Definition> ActiveDefinitionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, NpgsqlParameter key, string what, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(key);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new PliersNotFoundException($"Form '{what}' does not exist or has no active version.");
        }

        if (reader.GetString(2) != "active")
        {
            throw new PliersConflictException($"Form definition {what} is {reader.GetString(2)}; submissions go to the active version only.", "form_submissions_active_version");
        }

        return new Definition(reader.GetGuid(0), reader.GetInt32(1), JsonDepth.Read(reader, 3, _options.MaxDocumentDepth), reader.GetString(4));
    }

    private async Task<(FormSubmission Submission, JsonElement Schema)> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select {string.Join(", ", Columns.Split(", ").Select(c => "s." + c))}, d.definition -> 'schema' from {_table} s join {_definitions} d on d.id = s.form_definition_id where s.id = @id for update of s",
            connection,
            transaction);
        command.Parameters.Add(P("id", id));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new PliersNotFoundException($"Submission {id} does not exist.");
        }

        return (Read(reader), JsonDepth.Read(reader, 10, _options.MaxDocumentDepth));
    }

    /// <summary>The row statement and its domain event in one batch (one round trip), then the commit.</summary>
    private async Task<FormSubmission> WriteWithEventAsync(NpgsqlTransaction transaction, string sql, NpgsqlParameter[] parameters, Guid id, NewEvent domainEvent, CancellationToken cancellationToken)
    {
        var batch = new NpgsqlBatch(transaction.Connection, transaction);
        await using (batch.ConfigureAwait(false))
        {
            var row = new NpgsqlBatchCommand(sql);
            row.Parameters.AddRange(parameters);
            batch.BatchCommands.Add(row);
            batch.BatchCommands.Add(_events.AppendCommand(id, AggregateType, [domainEvent]));
            var written = await ReadFirstAsync(batch, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            _events.Announce(1);
            return written;
        }
    }

    private async Task<FormSubmission> ReadFirstAsync(NpgsqlBatch batch, CancellationToken cancellationToken)
    {
        try
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException("The write returned no row.");
            }

            var row = Read(reader);
            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
            {
            }

            return row;
        }
        catch (PostgresException e) when (PostgresErrors.Translate(e) is { } translated)
        {
            throw translated;
        }
    }

    private async IAsyncEnumerable<FormSubmission> ReadAsync(string sql, IReadOnlyList<NpgsqlParameter> parameters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await using var command = new NpgsqlCommand(sql, connection);
            command.Parameters.AddRange(parameters.ToArray());
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return Read(reader);
            }
        }
    }

    private FormSubmission Read(NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetGuid(1),
        reader.GetInt32(2),
        Parse(reader.GetString(3)),
        JsonDepth.Read(reader, 4, _options.MaxDocumentDepth),
        reader.IsDBNull(5) ? null : reader.GetString(5),
        reader.IsDBNull(6) ? null : reader.GetInt32(6),
        reader.GetFieldValue<DateTimeOffset>(7),
        reader.GetFieldValue<DateTimeOffset>(8),
        reader.GetFieldValue<uint>(9));

    internal static string Name(SubmissionStatus status) => status.ToString().ToLowerInvariant();

    private static SubmissionStatus Parse(string status) => Enum.Parse<SubmissionStatus>(status, ignoreCase: true);

    private static NewEvent Event(string type, EventContext? context, object data) =>
        NewEvent.Create(type, data) with { CorrelationId = context?.CorrelationId, CausationId = context?.CausationId };
}
