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

    private readonly PliersWriter _writer;
    private readonly SchemaValidator _validator;
    private readonly PliersDataOptions _options;
    private readonly FormDefinitionsTable _definitions;
    private readonly FormSubmissionsTable _table;
    private readonly ActiveDefinitionCache _cache;
    private readonly PliersDatabase _database;
    private readonly TenantScope _tenant;

    public PostgresFormSubmissionRepository(PliersDatabase database, PostgresEventStore events, SchemaValidator validator, PliersDataOptions options, ActiveDefinitionCache cache)
    {
        _database = database;
        _tenant = database.DefaultTenant;
        _writer = new PliersWriter(database, events);
        _validator = validator;
        _options = options;
        _cache = cache;
        _definitions = new FormDefinitionsTable(database);
        _table = new FormSubmissionsTable(database, _definitions, events.Table);
    }

    /// <summary>A view of <paramref name="root"/> in another tenant, sharing everything else.</summary>
    private PostgresFormSubmissionRepository(PostgresFormSubmissionRepository root, TenantScope tenant)
    {
        _database = root._database;
        _validator = root._validator;
        _options = root._options;
        _cache = root._cache;
        _definitions = root._definitions;
        _table = root._table;
        _writer = root._writer.For(tenant);
        _tenant = tenant;
    }

    public string TenantId => _tenant.Id;

    public IFormSubmissionRepository ForTenant(string tenantId) => new PostgresFormSubmissionRepository(this, _database.Tenant(tenantId));

    private int MaxDepth => _options.MaxDocumentDepth;

    public Task<FormSubmission> CreateAsync(string formName, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync(new DefinitionKey(FormName(formName), null), data, context, cancellationToken));

    public Task<FormSubmission> CreateAsync(Guid formDefinitionId, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.create", () => CreateCoreAsync(new DefinitionKey(null, formDefinitionId), data, context, cancellationToken));

    /// <summary>
    /// Validates against the (cached) active version, then one statement checks that this version is still the
    /// active one and writes the row and its event. When a publish or archive got there first, the statement writes
    /// nothing; the entry is dropped and the write starts again from the database's answer.
    /// </summary>
    private async Task<FormSubmission> CreateCoreAsync(DefinitionKey key, JsonElement data, EventContext? context, CancellationToken cancellationToken)
    {
        var json = CheckDocument(data, string.Empty);
        for (var attempt = 1; ; attempt++)
        {
            var definition = await ActiveDefinitionAsync(key, fromCache: attempt == 1, cancellationToken).ConfigureAwait(false);
            _validator.Validate(definition.Id, definition.Version, definition.Schema, data);
            var eventData = JsonSerializer.Serialize(new FormSubmissionCreated(definition.Id, definition.Version, definition.Name, false), JsonSerializerOptions.Web);
            var row = await _writer.PreparedStatementAsync<SubmissionRow>(
                _table.Create,
                p =>
                {
                    p.Add("id", NpgsqlDbType.Uuid, Guid.CreateVersion7());
                    p.Add("definition", NpgsqlDbType.Uuid, definition.Id);
                    p.Add("data", NpgsqlDbType.Text, json);
                    p.Add("event_data", NpgsqlDbType.Text, eventData);
                    EventsTable.AddEventParameters(p, AggregateType, PliersEventTypes.SubmissionCreated, context);
                },
                cancellationToken).ConfigureAwait(false);
            if (row is not null)
            {
                _writer.Announce(1);
                return row.ToSubmission(MaxDepth);
            }

            _cache.Forget(_tenant.Key(definition.Name));
            if (attempt == 10)
            {
                throw new PliersConflictException($"Form '{definition.Name}' changed its active version ten times during one submission; try again.", "form_submissions_active_version");
            }
        }
    }

    public Task<FormSubmission> UpdateDataAsync(Guid id, uint rowVersion, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.update", async () =>
        {
            var json = CheckDocument(data, string.Empty);
            var parameters = ChangeParameters(id, rowVersion, PliersEventTypes.SubmissionUpdated, context);
            parameters.Add("data", json);
            try
            {
                // BEGIN travels with the statement; the data is checked against the schema of the submission's own
                // form version (which the statement returns) before the one COMMIT.
                return await _writer.WriteAsync(
                    async write =>
                    {
                        var row = await write.Connection.QuerySingleOrDefaultAsync<SubmissionRow>(write.Command(_table.UpdateData, parameters)).ConfigureAwait(false)
                                  ?? throw Refusal(await write.Connection.QuerySingleOrDefaultAsync<SubmissionState>(write.Command(_table.State, new { id })).ConfigureAwait(false), id, rowVersion, null);
                        var definition = await PublishedDefinitionAsync(write.Connection, row.FormDefinitionId, cancellationToken).ConfigureAwait(false);
                        _validator.Validate(definition.Id, definition.Version, definition.Schema, data);
                        write.Wrote(1);
                        return row.ToSubmission(MaxDepth);
                    },
                    cancellationToken).ConfigureAwait(false);
            }
            catch (PliersValidationException e) when (e.InnerException is PostgresException)
            {
                // The database refused the data first; name the errors the way the application layer does.
                await ValidateAgainstOwnVersionAsync(id, data, cancellationToken).ConfigureAwait(false);
                throw;
            }
        });

    public Task<FormSubmission> ChangeStatusAsync(Guid id, uint rowVersion, SubmissionStatus status, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.status", async () =>
        {
            var eventType = "form.submission." + Name(status);
            var from = Sources(status);
            var row = await ChangeStatusCoreAsync(
                p =>
                {
                    p.Add("id", NpgsqlDbType.Uuid, id);
                    p.Add("row_version", NpgsqlDbType.Text, rowVersion.ToString(CultureInfo.InvariantCulture));
                    p.Add("status", NpgsqlDbType.Text, Name(status));
                    p.Add("from", NpgsqlDbType.Array | NpgsqlDbType.Text, from);
                    p.Add("from_status", NpgsqlDbType.Text, from.Length == 1 ? from[0] : null);
                    EventsTable.AddEventParameters(p, AggregateType, eventType, context);
                },
                id,
                rowVersion,
                status,
                cancellationToken).ConfigureAwait(false);
            _writer.Announce(1);
            return row.ToSubmission(MaxDepth);
        });

    public Task<FormSubmission> DeleteAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.delete", () => SetDeletedAsync(id, true, context, cancellationToken));

    public Task<FormSubmission> RestoreAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("submissions.restore", () => SetDeletedAsync(id, false, context, cancellationToken));

    private async Task<FormSubmission> SetDeletedAsync(Guid id, bool deleted, EventContext? context, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var parameters = EventsTable.AddEventParameters(new DynamicParameters(new { id, deleted }), AggregateType, deleted ? PliersEventTypes.SubmissionDeleted : PliersEventTypes.SubmissionRestored, context);
            try
            {
                if (await _writer.StatementAsync<SubmissionRow>(_table.SetDeleted, parameters, cancellationToken).ConfigureAwait(false) is { } row)
                {
                    _writer.Announce(1);
                    return row.ToSubmission(MaxDepth);
                }
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == "events_stream_version_key" && attempt < 3)
            {
                continue; // another change of this submission appended first: the statement runs again on the new state
            }

            var state = await _writer.StatementAsync<SubmissionState>(_table.State, new { id }, cancellationToken).ConfigureAwait(false);
            if (state is null)
            {
                throw new PliersNotFoundException($"Submission {id} does not exist.");
            }

            if (state.Deleted != deleted && attempt < 3)
            {
                continue; // changed back meanwhile
            }

            throw deleted
                ? new PliersConflictException($"Submission {id} is deleted already.", "form_submissions_deleted")
                : new PliersConflictException($"Submission {id} is not deleted; only a deleted submission can be restored.", "form_submissions_not_deleted");
        }
    }

    public Task<int> PurgeAsync(TimeSpan olderThan, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(olderThan, TimeSpan.Zero);
        return PliersTelemetry.TraceAsync("submissions.purge", async () =>
        {
            const int batch = 1000;
            var before = DateTimeOffset.UtcNow - olderThan;
            var total = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var parameters = EventsTable.AddEventParameters(new DynamicParameters(new { before, batch }), AggregateType, PliersEventTypes.SubmissionPurged, context);
                var purged = await _writer.StatementAsync<int>(_table.Purge, parameters, cancellationToken).ConfigureAwait(false);
                total += purged;
                if (purged > 0)
                {
                    _writer.Announce(purged);
                }

                if (purged < batch)
                {
                    return total;
                }
            }
        });
    }

    /// <summary>
    /// Runs the status change (its parameters bound afresh each attempt, so each has a new event id); when it wrote
    /// nothing, reads the row to say why. A writer that held the row while this statement waited for it may have
    /// appended to the stream after this statement's snapshot: the unique stream version refuses the event, and the
    /// retry sees the new row version (and refuses the change by it).
    /// </summary>
    private async Task<SubmissionRow> ChangeStatusCoreAsync(Action<PositionalStatement.Parameters> bind, Guid id, uint rowVersion, SubmissionStatus to, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (await _writer.PreparedStatementAsync<SubmissionRow>(_table.ChangeStatus, bind, cancellationToken).ConfigureAwait(false) is { } row)
                {
                    return row;
                }

                var state = await _writer.StatementAsync<SubmissionState>(_table.State, new { id }, cancellationToken).ConfigureAwait(false);
                if (attempt < 3 && state is not null && state.RowVersion == rowVersion && Allowed(FormSubmissionsTable.ParseStatus(state.Status), to))
                {
                    // Refused, yet the row now allows the change: it changed back meanwhile (a rolled-back writer); again.
                    continue;
                }

                throw Refusal(state, id, rowVersion, to);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation && e.ConstraintName == "events_stream_version_key")
            {
                // Again; the next attempt binds a new event id. Three times in a row: the typed conflict, not a 23505.
                if (attempt >= 3)
                {
                    throw new PliersConcurrencyException($"Submission {id}'s event stream kept moving during the status change; read it again.", id, rowVersion, null, e);
                }
            }
        }
    }

    private static DynamicParameters ChangeParameters(Guid id, uint rowVersion, string eventType, EventContext? context) =>
        EventsTable.AddEventParameters(new DynamicParameters(new { id, row_version = rowVersion.ToString(CultureInfo.InvariantCulture) }), AggregateType, eventType, context);

    /// <summary>The typed refusal of a change that wrote nothing: not found, stale row version, or a move the workflow does not allow.</summary>
    private static PliersDataException Refusal(SubmissionState? state, Guid id, uint rowVersion, SubmissionStatus? to)
    {
        if (state is null)
        {
            return new PliersNotFoundException($"Submission {id} does not exist.");
        }

        if (state.Deleted)
        {
            return new PliersConflictException($"Submission {id} is deleted; restore it before changing it.", "form_submissions_deleted");
        }

        if (state.RowVersion != rowVersion)
        {
            return new PliersConcurrencyException($"Submission {id} was changed by someone else; read it again.", id, rowVersion, state.RowVersion);
        }

        var from = FormSubmissionsTable.ParseStatus(state.Status);
        return new PliersConflictException($"Submission {id} cannot move from {Name(from)} to {Name(to ?? from)}.", "form_submissions_status_transition");
    }

    /// <summary>The statuses a submission may move to <paramref name="to"/> from, by name (computed once per status).</summary>
    private static string[] Sources(SubmissionStatus to) => (uint)to < (uint)SourcesByTarget.Length ? SourcesByTarget[(int)to] : [];

    private static readonly string[][] SourcesByTarget =
        Enum.GetValues<SubmissionStatus>().Select(to => Enum.GetValues<SubmissionStatus>().Where(from => Allowed(from, to)).Select(Name).ToArray()).ToArray();

    internal static bool Allowed(SubmissionStatus from, SubmissionStatus to) => (from, to) switch
    {
        (SubmissionStatus.Draft, SubmissionStatus.Submitted) => true,
        (SubmissionStatus.Submitted, SubmissionStatus.Approved or SubmissionStatus.Rejected) => true,
        (not SubmissionStatus.Archived, SubmissionStatus.Archived) => true,
        _ => false,
    };

    public async Task<IReadOnlyList<SubmissionRevision>> ListRevisionsAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var revisions = await RevisionsAsync(id, null, cancellationToken).ConfigureAwait(false);
        return revisions.Count > 0 ? revisions : throw new PliersNotFoundException($"Submission {id} does not exist.");
    }

    public async Task<SubmissionRevision?> GetRevisionAsync(Guid id, int revision, CancellationToken cancellationToken = default) =>
        (await RevisionsAsync(id, revision, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public async Task<JsonElement> DiffRevisionsAsync(Guid id, int from, int to, CancellationToken cancellationToken = default)
    {
        var revisions = await ListRevisionsAsync(id, cancellationToken).ConfigureAwait(false);
        SubmissionRevision Find(int number) => revisions.SingleOrDefault(r => r.Revision == number)
            ?? throw new PliersNotFoundException($"Submission {id} has no revision {number} (it has 1 to {revisions[^1].Revision}).");
        return JsonPatch.Diff(Find(from).Data, Find(to).Data);
    }

    private async Task<IReadOnlyList<SubmissionRevision>> RevisionsAsync(Guid id, int? revision, CancellationToken cancellationToken)
    {
        // From the primary: a revision just written is there (read-your-writes), and the history and the row are read
        // in one snapshot.
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<RevisionRow>(_tenant.Command(_table.RevisionsOf, new { id, revision }, cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => r.ToRevision(id, MaxDepth)).ToArray();
        }
    }

    public Task<long> ExportAsync(string formName, SubmissionExportFormat format, Stream output, SubmissionQuery? filter = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var name = FormName(formName);
        return PliersTelemetry.TraceAsync("submissions.export", async () =>
        {
            IReadOnlyList<string[]> columns;
            var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                var versions = (await connection.QueryAsync<DefinitionRow>(_tenant.Command(_definitions.VersionsOfName, new { name }, cancellationToken)).ConfigureAwait(false)).AsList();
                if (versions.Count == 0)
                {
                    throw new PliersNotFoundException($"No form is named '{name}'.");
                }

                columns = SubmissionExport.Columns(versions.Select(v => v.ToDefinition(MaxDepth).Definition).Select(d => d.TryGetProperty("schema", out var schema) ? schema : default));
            }

            var query = (filter ?? new SubmissionQuery()) with { FormName = name, FormDefinitionId = null, AllVersions = false, Cursor = null };
            return await SubmissionExport.WriteAsync(StreamAsync(query, cancellationToken), format, columns, output, progress, cancellationToken).ConfigureAwait(false);
        });
    }

    public async Task<FormSubmission?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default)
    {
        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var row = await connection.QuerySingleOrDefaultAsync<SubmissionRow>(_tenant.Command(_table.ById, new { id }, cancellationToken)).ConfigureAwait(false);
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
        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = (await connection.QueryAsync<SubmissionRow>(_tenant.Command(sql, parameters, cancellationToken)).ConfigureAwait(false)).AsList();
            var items = rows.Take(query.PageSize).Select(r => r.ToSubmission(MaxDepth)).ToArray();
            return new Page<FormSubmission>(items, rows.Count > query.PageSize ? Cursor(items[^1].CreatedAt.UtcTicks, items[^1].Id) : null);
        }
    }

    /// <summary>The page query exactly as it runs (the plan tests EXPLAIN it).</summary>
    internal (string Sql, DynamicParameters Parameters) PageCommand(SubmissionQuery query) => _table.Page(query, _tenant.Id.Length > 0);

    public async Task<long> CountAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (sql, parameters) = _table.Count(query, _tenant.Id.Length > 0);
        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await connection.ExecuteScalarAsync<long>(_tenant.Command(sql, parameters, cancellationToken)).ConfigureAwait(false);
        }
    }

    public IAsyncEnumerable<FormSubmission> StreamAsync(SubmissionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var (sql, parameters) = _table.Stream(query, _tenant.Id.Length > 0);
        return StreamCoreAsync(sql, parameters, cancellationToken);
    }

    private async IAsyncEnumerable<FormSubmission> StreamCoreAsync(string sql, DynamicParameters parameters, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var row in StreamAsync<SubmissionRow>(_database.ReadDataSource, _tenant, sql, parameters, cancellationToken).ConfigureAwait(false))
        {
            yield return row.ToSubmission(MaxDepth);
        }
    }

    public async Task<int> BulkImportAsync(string formName, IEnumerable<JsonElement> data, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        var items = data.ToArray();
        var key = new DefinitionKey(FormName(formName), null);
        for (var attempt = 1; ; attempt++)
        {
            var definition = await ActiveDefinitionAsync(key, fromCache: attempt == 1, cancellationToken).ConfigureAwait(false);
            var imported = await ImportAsync(definition, items, context, cancellationToken).ConfigureAwait(false);
            if (imported is { } count)
            {
                return count;
            }

            _cache.Forget(_tenant.Key(definition.Name));
            if (attempt == 10)
            {
                throw new PliersConflictException($"Form '{definition.Name}' changed its active version ten times during one import; try again.", "form_submissions_active_version");
            }
        }
    }

    /// <summary>Imports against <paramref name="definition"/>; null when that version is no longer the active one.</summary>
    private Task<int?> ImportAsync(ActiveDefinition definition, JsonElement[] items, EventContext? context, CancellationToken cancellationToken) =>
        _writer.WriteAsync<int?>(
            async write =>
            {
                if (await write.Connection.QuerySingleOrDefaultAsync<bool?>(write.Command(_definitions.LockActiveForImport, new { id = definition.Id })).ConfigureAwait(false) is not { } guarded)
                {
                    return null;
                }

                // The database validates the rows once, set-based, when the COPY completes (the insert trigger over
                // the statement's rows). The application validator runs only when the database refuses, to name every
                // error of every row: validating each row here as well cost 20-25% of the import's time on two cores
                // (docs/performance.md), and both layers give the same verdicts (DifferentialTests). The document
                // checks (object, depth, size, jsonb text) run as the rows stream, so the server takes in rows while
                // the client checks the next ones; after an item fails, the rest are only checked (every error named)
                // and the COPY is abandoned: nothing is written.
                var ids = items.Select(_ => Guid.CreateVersion7()).ToArray();
                var invalid = new List<PliersValidationError>();
                try
                {
                    await Db.CopyAsync(
                        write.Connection,
                        write.Transaction,
                        _table.Name,
                        FormSubmissionsTable.CopyIn,
                        guarded,
                        async writer =>
                        {
                            for (var i = 0; i < items.Length; i++)
                            {
                                string text;
                                try
                                {
                                    text = CheckDocument(items[i], "/" + i.ToString(CultureInfo.InvariantCulture));
                                }
                                catch (PliersValidationException e)
                                {
                                    invalid.AddRange(e.Errors);
                                    continue;
                                }

                                if (invalid.Count > 0)
                                {
                                    continue;
                                }

                                await writer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                                await writer.WriteAsync(ids[i], NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                                await writer.WriteAsync(definition.Id, NpgsqlDbType.Uuid, cancellationToken).ConfigureAwait(false);
                                await writer.WriteAsync(definition.Version, NpgsqlDbType.Integer, cancellationToken).ConfigureAwait(false);
                                await writer.WriteAsync(text, NpgsqlDbType.Jsonb, cancellationToken).ConfigureAwait(false);
                                await writer.WriteAsync("submitted", NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                            }

                            if (invalid.Count > 0)
                            {
                                // Leaving without completing cancels the COPY; the transaction rolls back.
                                throw new PliersValidationException(PliersValidationException.Describe($"The import was refused: {invalid.Count} error(s)", invalid), invalid.Take(100).ToArray());
                            }
                        },
                        cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.CheckViolation && e.ConstraintName == PostgresErrors.SubmissionSchemaConstraint)
                {
                    var errors = ValidateAll(definition, items, cancellationToken);
                    if (errors.Count == 0)
                    {
                        throw;
                    }

                    throw new PliersValidationException(PliersValidationException.Describe($"The import was refused: {errors.Count} error(s)", errors), errors.Take(100).ToArray(), e);
                }

                var created = Event(PliersEventTypes.SubmissionCreated, context, new FormSubmissionCreated(definition.Id, definition.Version, definition.Name, true));
                await write.AppendFirstEventsAsync(ids, AggregateType, created).ConfigureAwait(false);
                return items.Length;
            },
            cancellationToken);

    /// <summary>Every error of every item, validated in parallel (after the database refused the import).</summary>
    private List<PliersValidationError> ValidateAll(ActiveDefinition definition, JsonElement[] items, CancellationToken cancellationToken)
    {
        var errors = new IReadOnlyList<PliersValidationError>?[items.Length];
        Parallel.For(0, items.Length, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            try
            {
                _validator.Validate(definition.Id, definition.Version, definition.Schema, items[i]);
            }
            catch (PliersValidationException e)
            {
                var prefix = "/" + i.ToString(CultureInfo.InvariantCulture);
                errors[i] = e.Errors.Select(x => x with { Path = prefix + x.Path }).ToArray();
            }
        });
        return errors.Where(e => e is not null).SelectMany(e => e!).ToList();
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

/// <summary>A form by name (its active version) or one version by id.</summary>
    private sealed record DefinitionKey(string? Name, Guid? Id);

    /// <summary>
    /// The version a new submission goes to: from the cache when allowed, else read from the primary (and cached).
    /// Not found and not active are the typed refusals they have always been.
    /// </summary>
    private async Task<ActiveDefinition> ActiveDefinitionAsync(DefinitionKey key, bool fromCache, CancellationToken cancellationToken)
    {
        if (fromCache && (key.Id is { } cachedId ? _cache.ById(cachedId, _tenant.Id) : _cache.ByName(_tenant.Key(key.Name!))) is { } cached)
        {
            return cached;
        }

        var generation = _cache.Generation;
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var row = key.Id is { } id
                ? await connection.QuerySingleOrDefaultAsync<SubmissionSchemaRow>(_tenant.Command(_definitions.SchemaForSubmissionById, new { key = id }, cancellationToken)).ConfigureAwait(false)
                : await connection.QuerySingleOrDefaultAsync<SubmissionSchemaRow>(_tenant.Command(_definitions.SchemaForSubmissionByName, new { key = key.Name }, cancellationToken)).ConfigureAwait(false);
            var what = key.Name ?? key.Id.ToString();
            if (row is null)
            {
                throw new PliersNotFoundException($"Form '{what}' does not exist or has no active version.");
            }

            if (row.Status != "active")
            {
                throw new PliersConflictException($"Form definition {what} is {row.Status}; submissions go to the active version only.", "form_submissions_active_version");
            }

            var definition = new ActiveDefinition(row.Id, row.Version, row.Name, JsonDepth.Parse(row.Schema, MaxDepth), _tenant.Id);
            _cache.Add(definition, _tenant.Key(definition.Name), generation);
            return definition;
        }
    }

    /// <summary>The version an existing submission belongs to (active or archived, so immutable and cached by id).</summary>
    private async Task<ActiveDefinition> PublishedDefinitionAsync(NpgsqlConnection connection, Guid id, CancellationToken cancellationToken)
    {
        if (_cache.ById(id, _tenant.Id) is { } cached)
        {
            return cached;
        }

        var row = await connection.QuerySingleAsync<SubmissionSchemaRow>(_tenant.Command(_definitions.SchemaForSubmissionById, new { key = id }, cancellationToken)).ConfigureAwait(false);
        var definition = new ActiveDefinition(row.Id, row.Version, row.Name, JsonDepth.Parse(row.Schema, MaxDepth), _tenant.Id);
        if (row.Status != "draft")
        {
            _cache.AddById(definition);
        }

        return definition;
    }

    /// <summary>Validates <paramref name="data"/> against the submission's own form version (throws the application layer's errors).</summary>
    private async Task ValidateAgainstOwnVersionAsync(Guid id, JsonElement data, CancellationToken cancellationToken)
    {
        var connection = await _database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var definitionId = await connection.QuerySingleOrDefaultAsync<Guid?>(_tenant.Command(_table.DefinitionOf, new { id }, cancellationToken)).ConfigureAwait(false);
            if (definitionId is { } found)
            {
                var definition = await PublishedDefinitionAsync(connection, found, cancellationToken).ConfigureAwait(false);
                _validator.Validate(definition.Id, definition.Version, definition.Schema, data);
            }
        }
    }

    internal static string Name(SubmissionStatus status) => FormSubmissionsTable.Status(status);

    private static NewEvent Event<T>(string type, EventContext? context, T data) =>
        NewEvent.Create(type, data) with { CorrelationId = context?.CorrelationId, CausationId = context?.CausationId };
}
