using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Events;
using Pliers.Data.Forms;
using Pliers.Data.Internal;
using Pliers.Data.Validation;
using static Pliers.Data.Internal.Db;

namespace Pliers.Data.Submissions;

/// <summary>
/// PostgreSQL implementation of <see cref="IFormSubmissionRepository"/>: Dapper over <see cref="FormSubmissionsTable"/>,
/// binary COPY for bulk import.
/// </summary>
internal sealed class PostgresFormSubmissionRepository : IFormSubmissionRepository
{
    internal const string AggregateType = PliersAggregateTypes.FormSubmission;

    private readonly NpgsqlDataSource _read;
    private readonly PliersWriter _writer;
    private readonly SchemaValidator _validator;
    private readonly PliersDataOptions _options;
    private readonly FormDefinitionsTable _definitions;
    private readonly FormSubmissionsTable _table;

    public PostgresFormSubmissionRepository(PliersDatabase database, PostgresEventStore events, SchemaValidator validator, PliersDataOptions options)
    {
        _read = database.ReadDataSource;
        _writer = new PliersWriter(database, events);
        _validator = validator;
        _options = options;
        _definitions = new FormDefinitionsTable(database);
        _table = new FormSubmissionsTable(database, _definitions);
    }

    private int MaxDepth => _options.MaxDocumentDepth;

    public Task<FormSubmission> CreateAsync(string formName, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync(_definitions.SchemaForSubmissionByName, FormName(formName), formName, data, context, cancellationToken));

    public Task<FormSubmission> CreateAsync(Guid formDefinitionId, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync(_definitions.SchemaForSubmissionById, formDefinitionId, formDefinitionId.ToString(), data, context, cancellationToken));

    private Task<FormSubmission> CreateCoreAsync(string lookup, object key, string what, JsonElement data, EventContext? context, CancellationToken cancellationToken)
    {
        var json = CheckDocument(data, string.Empty);
        return _writer.WriteAsync(
            async write =>
            {
                var definition = await ActiveDefinitionAsync(write, lookup, key, what).ConfigureAwait(false);
                _validator.Validate(definition.Id, definition.Version, definition.Schema, data);
                var row = await SingleAsync(write, _table.Insert, new { id = Guid.CreateVersion7(), definition = definition.Id, version = definition.Version, data = json }).ConfigureAwait(false);
                await write.AppendAsync(row.Id, AggregateType, Event(PliersEventTypes.SubmissionCreated, context, new FormSubmissionCreated(definition.Id, definition.Version, definition.Name, false))).ConfigureAwait(false);
                return row;
            },
            cancellationToken);
    }

    public Task<FormSubmission> UpdateDataAsync(Guid id, uint rowVersion, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.update", () =>
        {
            var json = CheckDocument(data, string.Empty);
            return _writer.WriteAsync(
                async write =>
                {
                    var (current, schema) = await LockAsync(write, id, rowVersion).ConfigureAwait(false);
                    _validator.Validate(current.FormDefinitionId, current.FormVersion, schema, data);
                    var row = await SingleAsync(write, _table.UpdateData, new { id, data = json }).ConfigureAwait(false);
                    await write.AppendAsync(id, AggregateType, Event(PliersEventTypes.SubmissionUpdated, context, new FormSubmissionUpdated(current.FormDefinitionId, current.FormVersion))).ConfigureAwait(false);
                    return row;
                },
                cancellationToken);
        });

    public Task<FormSubmission> ChangeStatusAsync(Guid id, uint rowVersion, SubmissionStatus status, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.status", () => _writer.WriteAsync(
            async write =>
            {
                var (current, _) = await LockAsync(write, id, rowVersion).ConfigureAwait(false);
                if (!Allowed(current.Status, status))
                {
                    throw new PliersConflictException($"Submission {id} cannot move from {Name(current.Status)} to {Name(status)}.", "form_submissions_status_transition");
                }

                var row = await SingleAsync(write, _table.UpdateStatus, new { id, status = Name(status) }).ConfigureAwait(false);
                await write.AppendAsync(id, AggregateType, Event("form.submission." + Name(status), context, new FormSubmissionStatusChanged(Name(current.Status), Name(status)))).ConfigureAwait(false);
                return row;
            },
            cancellationToken));

    internal static bool Allowed(SubmissionStatus from, SubmissionStatus to) => (from, to) switch
    {
        (SubmissionStatus.Draft, SubmissionStatus.Submitted) => true,
        (SubmissionStatus.Submitted, SubmissionStatus.Approved or SubmissionStatus.Rejected) => true,
        (not SubmissionStatus.Archived, SubmissionStatus.Archived) => true,
        _ => false,
    };

    public async Task<FormSubmission?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var row = await connection.QuerySingleOrDefaultAsync<SubmissionRow>(new CommandDefinition(_table.ById, new { id }, cancellationToken: cancellationToken)).ConfigureAwait(false);
            return row?.ToSubmission(MaxDepth);
        }
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
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = (await connection.QueryAsync<SubmissionRow>(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false)).AsList();
            var items = rows.Take(query.PageSize).Select(r => r.ToSubmission(MaxDepth)).ToArray();
            return new Page<FormSubmission>(items, rows.Count > query.PageSize ? Cursor(items[^1].CreatedAt.UtcTicks, items[^1].Id) : null);
        }
    }

    /// <summary>The page query exactly as it runs (the plan tests EXPLAIN it).</summary>
    internal (string Sql, DynamicParameters Parameters) PageCommand(SubmissionQuery query) => _table.Page(query);

    public async Task<long> CountAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (sql, parameters) = _table.Count(query);
        var connection = await _read.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.ExecuteScalarAsync<long>(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken)).ConfigureAwait(false);
        }
    }

    public IAsyncEnumerable<FormSubmission> StreamAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (sql, parameters) = _table.Stream(query);
        return StreamCoreAsync(sql, parameters, cancellationToken);
    }

    private async IAsyncEnumerable<FormSubmission> StreamCoreAsync(string sql, DynamicParameters parameters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var row in StreamAsync<SubmissionRow>(_read, sql, parameters, cancellationToken).ConfigureAwait(false))
        {
            yield return row.ToSubmission(MaxDepth);
        }
    }

    public async Task<int> BulkImportAsync(string formName, IEnumerable<JsonElement> data, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var items = data.ToArray();
        var name = FormName(formName);
        return await _writer.WriteAsync(
            async write =>
            {
                var definition = await ActiveDefinitionAsync(write, _definitions.SchemaForSubmissionByName, name, name).ConfigureAwait(false);

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
                        var prefix = "/" + i.ToString(CultureInfo.InvariantCulture);
                        itemErrors[i] = e.Errors.Select(x => x.Path.StartsWith(prefix, StringComparison.Ordinal) ? x : x with { Path = prefix + x.Path }).ToArray();
                    }
                });
                var errors = itemErrors.Where(e => e is not null).SelectMany(e => e!).Take(100).ToList();
                if (errors.Count > 0)
                {
                    throw new PliersValidationException($"The import was refused: {errors.Count} error(s), the first at {errors[0].Path}: {errors[0].Message}", errors);
                }

                // Rows by binary COPY (Dapper has no COPY), then their events through the same event writer as every
                // other write, as one COPY of new streams.
                var ids = items.Select(_ => Guid.CreateVersion7()).ToArray();
                var writer = await write.Connection.BeginBinaryImportAsync(_table.CopyIn, cancellationToken).ConfigureAwait(false);
                await using (writer.ConfigureAwait(false))
                {
                    for (var i = 0; i < items.Length; i++)
                    {
                        await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(ids[i], NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(definition.Id, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(definition.Version, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync(texts[i], NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
                        await writer.WriteAsync("submitted", NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                    }

                    await writer.CompleteAsync(cancellationToken).ConfigureAwait(false);
                }

                var created = Event(PliersEventTypes.SubmissionCreated, context, new FormSubmissionCreated(definition.Id, definition.Version, definition.Name, true));
                await write.CopyNewStreamsAsync(ids.Select(id => (id, 1L, write.Batch(AggregateType, created with { Id = Guid.CreateVersion7() }))).ToArray()).ConfigureAwait(false);
                return items.Length;
            },
            cancellationToken).ConfigureAwait(false);
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

    private async Task<Definition> ActiveDefinitionAsync(WriteScope write, string sql, object key, string what)
    {
        var row = await write.Connection.QuerySingleOrDefaultAsync<SubmissionSchemaRow>(write.Command(sql, new { key })).ConfigureAwait(false)
            ?? throw new PliersNotFoundException($"Form '{what}' does not exist or has no active version.");
        if (row.Status != "active")
        {
            throw new PliersConflictException($"Form definition {what} is {row.Status}; submissions go to the active version only.", "form_submissions_active_version");
        }

        return new Definition(row.Id, row.Version, JsonDepth.Parse(row.Schema, MaxDepth), row.Name);
    }

    /// <summary>Locks the submission for a change, checks its row version and reads the schema of its own form version.</summary>
    private async Task<(FormSubmission Submission, JsonElement Schema)> LockAsync(WriteScope write, Guid id, uint rowVersion)
    {
        var row = await write.Connection.QuerySingleOrDefaultAsync<LockedSubmissionRow>(write.Command(_table.LockWithSchema, new { id })).ConfigureAwait(false)
            ?? throw new PliersNotFoundException($"Submission {id} does not exist.");
        if (row.RowVersion != rowVersion)
        {
            throw new PliersConcurrencyException($"Submission {id} was changed by someone else; read it again.", id, rowVersion, row.RowVersion);
        }

        return (row.ToSubmission(MaxDepth), JsonDepth.Parse(row.Schema, MaxDepth));
    }

    private async Task<FormSubmission> SingleAsync(WriteScope write, string sql, object parameters) =>
        (await write.Connection.QuerySingleAsync<SubmissionRow>(write.Command(sql, parameters)).ConfigureAwait(false)).ToSubmission(MaxDepth);

    internal static string Name(SubmissionStatus status) => FormSubmissionsTable.Status(status);

    private static NewEvent Event<T>(string type, EventContext? context, T data) =>
        NewEvent.Create(type, data) with { CorrelationId = context?.CorrelationId, CausationId = context?.CausationId };
}
