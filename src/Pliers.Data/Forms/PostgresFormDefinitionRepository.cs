using System.Globalization;
using System.Text.Json;
using Dapper;
using Npgsql;
using Pliers.Data.Events;
using Pliers.Data.Internal;
using Pliers.Data.Validation;
using static Pliers.Data.Internal.Db;

namespace Pliers.Data.Forms;

/// <summary>PostgreSQL implementation of <see cref="IFormDefinitionRepository"/>: Dapper over <see cref="FormDefinitionsTable"/>.</summary>
internal sealed class PostgresFormDefinitionRepository : IFormDefinitionRepository
{
    internal const string AggregateType = PliersAggregateTypes.FormDefinition;

    private readonly PliersWriter _writer;
    private readonly FormDefinitionsTable _table;
    private readonly ActiveDefinitionCache _cache;
    private readonly PliersDatabase _database;
    private readonly TenantScope _tenant;

    public PostgresFormDefinitionRepository(PliersDatabase database, PostgresEventStore events, ActiveDefinitionCache cache)
    {
        _database = database;
        _tenant = database.DefaultTenant;
        _cache = cache;
        _writer = new PliersWriter(database, events);
        _table = new FormDefinitionsTable(database);
    }

    /// <summary>A view of <paramref name="root"/> in another tenant, sharing everything else.</summary>
    private PostgresFormDefinitionRepository(PostgresFormDefinitionRepository root, TenantScope tenant)
    {
        _database = root._database;
        _cache = root._cache;
        _table = root._table;
        _writer = root._writer.For(tenant);
        _tenant = tenant;
    }

    public string TenantId => _tenant.Id;

    public IFormDefinitionRepository ForTenant(string tenantId) => new PostgresFormDefinitionRepository(this, _database.Tenant(tenantId));

    public Task<FormDefinition> CreateAsync(string name, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        name = FormName(name);
        return InsertAsync(name, 1, definition, context, cancellationToken);
    }

    public async Task<FormDefinition> CreateVersionAsync(string name, JsonElement? definition = null, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        name = FormName(name);
        var versions = await QueryAsync(_database.DataSource, _table.VersionsOfName, new { name }, cancellationToken).ConfigureAwait(false);
        if (versions.Count == 0)
        {
            throw new PliersNotFoundException($"There is no form named '{name}'.");
        }

        var latest = versions[^1];
        return await InsertAsync(name, latest.Version + 1, definition ?? latest.Definition, context, cancellationToken).ConfigureAwait(false);
    }

    private Task<FormDefinition> InsertAsync(string name, int version, JsonElement definition, EventContext? context, CancellationToken cancellationToken) =>
        PliersTelemetry.TraceAsync("definitions.create", () =>
        {
            var json = CheckDefinition(definition);
            return _writer.WriteAsync(
                async write =>
                {
                    var row = await SingleAsync(write, _table.Insert, new { id = Guid.CreateVersion7(), name, version, definition = json }).ConfigureAwait(false);
                    await write.AppendAsync(row!.Id, AggregateType, Event(PliersEventTypes.DefinitionCreated, context, new FormDefinitionChanged(row.Name, row.Version))).ConfigureAwait(false);
                    return row;
                },
                cancellationToken);
        });

    public Task<FormDefinition> UpdateDraftAsync(Guid id, uint rowVersion, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("definitions.update", async () =>
        {
            var json = CheckDefinition(definition);
            var updated = await _writer.WriteAsync(
                async write =>
                {
                    var row = await SingleAsync(write, _table.UpdateDraft, new { id, row_version = rowVersion.ToString(CultureInfo.InvariantCulture), definition = json }).ConfigureAwait(false);
                    if (row is not null)
                    {
                        await write.AppendAsync(row.Id, AggregateType, Event(PliersEventTypes.DefinitionUpdated, context, new FormDefinitionChanged(row.Name, row.Version))).ConfigureAwait(false);
                    }

                    return row;
                },
                cancellationToken).ConfigureAwait(false);
            if (updated is not null)
            {
                return updated;
            }

            var current = await GetAsync(_database.DataSource, id, cancellationToken).ConfigureAwait(false)
                ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
            if (current.Status != FormDefinitionStatus.Draft)
            {
                throw new PliersConflictException($"Form '{current.Name}' version {current.Version} is {FormDefinitionsTable.Status(current.Status)}; only drafts can be edited. Create a new version instead.", "form_definitions_immutable");
            }

            throw new PliersConcurrencyException($"Form '{current.Name}' version {current.Version} was changed by someone else; read it again.", id, rowVersion, current.RowVersion);
        });

    public Task<FormDefinition> PublishAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("definitions.publish", () => ChangingActiveAsync(_writer.WriteAsync(
            async write =>
            {
                var versions = (await write.Connection.QueryAsync<DefinitionRow>(write.Command(_table.LockVersionsOfName, new { id })).ConfigureAwait(false))
                    .Select(r => r.ToDefinition(_database.MaxDocumentDepth))
                    .ToList();
                var target = versions.FirstOrDefault(v => v.Id == id) ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
                if (target.Status != FormDefinitionStatus.Draft)
                {
                    throw new PliersConflictException($"Form '{target.Name}' version {target.Version} is {FormDefinitionsTable.Status(target.Status)}; only a draft can be published.", "form_definitions_status_transition");
                }

                var previous = versions.FirstOrDefault(v => v.Status == FormDefinitionStatus.Active);
                if (previous is not null)
                {
                    await SingleAsync(write, _table.SetStatus, new { id = previous.Id, status = "archived" }).ConfigureAwait(false);
                    await write.AppendAsync(previous.Id, AggregateType, Event(PliersEventTypes.DefinitionDeprecated, context, new FormDefinitionDeprecated(previous.Name, previous.Version, target.Version))).ConfigureAwait(false);
                }

                var published = await SingleAsync(write, _table.SetStatus, new { id, status = "active" }).ConfigureAwait(false);
                await write.AppendAsync(id, AggregateType, Event(PliersEventTypes.DefinitionPublished, context, new FormDefinitionPublished(target.Name, target.Version, previous?.Version))).ConfigureAwait(false);
                await NotifyAsync(write, target.Name).ConfigureAwait(false);
                return published!;
            },
            cancellationToken)));

    public async Task<FormDefinition> ArchiveAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        var archived = await _writer.WriteAsync(
            async write =>
            {
                var row = await SingleAsync(write, _table.Archive, new { id }).ConfigureAwait(false);
                if (row is not null)
                {
                    await write.AppendAsync(row.Id, AggregateType, Event(PliersEventTypes.DefinitionDeprecated, context, new FormDefinitionDeprecated(row.Name, row.Version, null))).ConfigureAwait(false);
                    await NotifyAsync(write, row.Name).ConfigureAwait(false);
                }

                return row;
            },
            cancellationToken).ConfigureAwait(false);
        if (archived is not null)
        {
            _cache.Forget(_tenant.Key(archived.Name));
            return archived;
        }

        var current = await GetAsync(_database.DataSource, id, cancellationToken).ConfigureAwait(false)
            ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
        throw new PliersConflictException($"Form '{current.Name}' version {current.Version} is already archived.", "form_definitions_status_transition");
    }

    public async Task<FormDefinition> DeleteDraftAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        var deleted = await _writer.WriteAsync(
            async write =>
            {
                var row = await SingleAsync(write, _table.DeleteDraft, new { id }).ConfigureAwait(false);
                if (row is not null)
                {
                    await write.AppendAsync(row.Id, AggregateType, Event(PliersEventTypes.DefinitionDeleted, context, new FormDefinitionChanged(row.Name, row.Version))).ConfigureAwait(false);
                }

                return row;
            },
            cancellationToken).ConfigureAwait(false);
        if (deleted is not null)
        {
            return deleted;
        }

        var current = await GetAsync(_database.DataSource, id, cancellationToken).ConfigureAwait(false)
            ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
        throw new PliersConflictException($"Form '{current.Name}' version {current.Version} is {current.Status.ToString().ToLowerInvariant()}; only drafts can be deleted.", "form_definitions_immutable");
    }

    public async Task<Page<DraftCheckFailure>> CheckDraftAsync(Guid draftId, string? cursor = null, int pageSize = 50, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(pageSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(pageSize, 500);
        var (afterCreated, afterId) = cursor is null ? (DateTimeOffset.MaxValue, Guid.Empty) : Db.ReadNewestFirstCursor(cursor);
        var draft = await GetAsync(_database.ReadDataSource, draftId, cancellationToken).ConfigureAwait(false);
        if (draft is not { Status: FormDefinitionStatus.Draft })
        {
            throw new PliersNotFoundException(draft is null ? $"Form definition {draftId} does not exist." : $"Form definition {draftId} is {draft.Status.ToString().ToLowerInvariant()}, not a draft.");
        }

        var connection = await _database.ReadDataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {

            var rows = (await connection.QueryAsync<DraftCheckRow>(_tenant.Command(
                _table.CheckDraft,
                new { id = draftId, after_created = afterCreated, after_id = afterId, limit = pageSize + 1 },
                cancellationToken)).ConfigureAwait(false)).AsList();
            var failures = rows.GroupBy(r => (r.SubmissionId, r.CreatedAt))
                .Select(g => (g.Key.CreatedAt, Failure: new DraftCheckFailure(g.Key.SubmissionId, g.Select(r => new PliersValidationError(r.Path, r.Keyword, r.Message) { Detail = r.Detail is null ? null : JsonDocument.Parse(r.Detail).RootElement.Clone() }).ToArray())))
                .ToList();
            var page = failures.Take(pageSize).ToList();
            var next = failures.Count > pageSize ? Db.Cursor(DefinitionRow.Utc(page[^1].CreatedAt).UtcTicks, page[^1].Failure.SubmissionId) : null;
            return new Page<DraftCheckFailure>(page.Select(p => p.Failure).ToArray(), next);
        }
    }

    public Task<FormDefinition?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default) =>
        GetAsync(_database.ReadDataSource, id, cancellationToken);

    public async Task<FormDefinition?> GetAsync(string name, int version, CancellationToken cancellationToken = default) =>
        (await QueryAsync(_database.ReadDataSource, _table.ByNameAndVersion, new { name = FormName(name), version }, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public async Task<FormDefinition?> GetActiveAsync(string name, CancellationToken cancellationToken = default) =>
        (await QueryAsync(_database.ReadDataSource, _table.ActiveByName, new { name = FormName(name) }, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public Task<IReadOnlyList<FormDefinition>> GetVersionsAsync(string name, CancellationToken cancellationToken = default) =>
        QueryAsync(_database.ReadDataSource, _table.VersionsOfName, new { name = FormName(name) }, cancellationToken);

    public async Task<Page<FormDefinition>> ListAsync(FormDefinitionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 500)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be between 1 and 500.");
        }

        var (afterName, afterVersion) = query.Cursor is null ? (string.Empty, 0) : Decode(query.Cursor);
        var (sql, parameters) = _table.List(query, afterName, afterVersion);
        var rows = await QueryAsync(_database.ReadDataSource, sql, parameters, cancellationToken).ConfigureAwait(false);
        var items = rows.Take(query.PageSize).ToArray();
        return new Page<FormDefinition>(items, rows.Count > query.PageSize ? Cursor(items[^1].Name, items[^1].Version) : null);

        static (string, int) Decode(string cursor)
        {
            var parts = ReadCursor(cursor, 2);
            return int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
                ? (parts[0], version)
                : throw BadCursor();
        }
    }

    /// <summary>
    /// Other hosts drop the form's active version from their caches when this transaction commits (NOTIFY is
    /// delivered on commit only); this host drops it as soon as the commit returns.
    /// </summary>
    private Task NotifyAsync(WriteScope write, string name) =>
        write.Connection.ExecuteAsync(write.Command(_table.Notify, new { payload = _database.Schema + "/" + _tenant.Key(name) }));

    private async Task<FormDefinition> ChangingActiveAsync(Task<FormDefinition> write)
    {
        var definition = await write.ConfigureAwait(false);
        _cache.Forget(_tenant.Key(definition.Name));
        return definition;
    }

    private string CheckDefinition(JsonElement definition)
    {
        var json = definition.GetRawText();
        CheckJsonb(json, "/definition");
        JsonDepth.Check(json, _database.MaxDocumentDepth, "/definition", "The form definition");
        SchemaValidator.CheckDefinition(definition);
        return json;
    }

    private static NewEvent Event<T>(string type, EventContext? context, T data) =>
        NewEvent.Create(type, data) with { CorrelationId = context?.CorrelationId, CausationId = context?.CausationId };

    private async Task<FormDefinition?> SingleAsync(WriteScope write, string sql, object parameters) =>
        (await write.Connection.QuerySingleOrDefaultAsync<DefinitionRow>(write.Command(sql, parameters)).ConfigureAwait(false))?.ToDefinition(_database.MaxDocumentDepth);

    private async Task<FormDefinition?> GetAsync(NpgsqlDataSource dataSource, Guid id, CancellationToken cancellationToken) =>
        (await QueryAsync(dataSource, _table.ById, new { id }, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    private async Task<IReadOnlyList<FormDefinition>> QueryAsync(NpgsqlDataSource dataSource, string sql, object parameters, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var rows = await connection.QueryAsync<DefinitionRow>(_tenant.Command(sql, parameters, cancellationToken)).ConfigureAwait(false);
            return rows.Select(r => r.ToDefinition(_database.MaxDocumentDepth)).ToList();
        }
    }
}

/// <summary>One error of one failing submission, as <see cref="FormDefinitionsTable.CheckDraft"/> returns it.</summary>
internal sealed record DraftCheckRow(Guid SubmissionId, DateTime CreatedAt, string Path, string Keyword, string Message, string? Detail);
