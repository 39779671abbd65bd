using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Pliers.Data.Events;
using Pliers.Data.Internal;
using Pliers.Data.Validation;
using static Pliers.Data.Internal.Db;

namespace Pliers.Data.Forms;

/// <summary>PostgreSQL implementation of <see cref="IFormDefinitionRepository"/>.</summary>
internal sealed class PostgresFormDefinitionRepository : IFormDefinitionRepository
{
    internal const string AggregateType = "form_definition";
    private const string Columns = "id, name, version, status, definition, created_at, updated_at, xmin";

    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _read;
    private readonly PostgresEventStore _events;
    private readonly string _table;
    private readonly int _maxDepth;

    public PostgresFormDefinitionRepository(PliersDatabase database, PostgresEventStore events)
    {
        _maxDepth = database.MaxDocumentDepth;
        _dataSource = database.DataSource;
        _read = database.ReadDataSource;
        _events = events;
        _table = database.QuotedSchema + ".form_definitions";
    }

    public Task<FormDefinition> CreateAsync(string name, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        name = FormName(name);
        return InsertAsync(name, 1, definition, "form.definition.created", context, cancellationToken);
    }

    public async Task<FormDefinition> CreateVersionAsync(string name, JsonElement? definition = null, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        name = FormName(name);
        var versions = await QueryAsync(_dataSource, $"select {Columns} from {_table} where name = @name order by version", [P("name", name)], cancellationToken).ConfigureAwait(false);
        if (versions.Count == 0)
        {
            throw new PliersNotFoundException($"There is no form named '{name}'.");
        }

        var latest = versions[^1];
        return await InsertAsync(name, latest.Version + 1, definition ?? latest.Definition, "form.definition.created", context, cancellationToken).ConfigureAwait(false);
    }

    private Task<FormDefinition> InsertAsync(string name, int version, JsonElement definition, string eventType, EventContext? context, CancellationToken cancellationToken) =>
        PliersTelemetry.TraceAsync("definitions.create", () => InsertCoreAsync(name, version, definition, eventType, context, cancellationToken));

    private async Task<FormDefinition> InsertCoreAsync(string name, int version, JsonElement definition, string eventType, EventContext? context, CancellationToken cancellationToken)
    {
        var json = definition.GetRawText();
        CheckJsonb(json, "/definition");
        JsonDepth.Check(json, _maxDepth, "/definition", "The form definition");
        SchemaValidator.CheckDefinition(definition);
        var id = Guid.CreateVersion7();
        return await WriteAsync(
            $"insert into {_table} (id, name, version, definition) values (@id, @name, @version, @definition::jsonb) returning {Columns}",
            [P("id", id), P("name", name), P("version", version), P("definition", json)],
            row => [Event(eventType, row, context, new { row.Name, row.Version })],
            cancellationToken).ConfigureAwait(false) ?? throw new InvalidOperationException("The insert returned no row.");
    }

    public Task<FormDefinition> UpdateDraftAsync(Guid id, uint rowVersion, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("definitions.update", () => UpdateDraftCoreAsync(id, rowVersion, definition, context, cancellationToken));

    private async Task<FormDefinition> UpdateDraftCoreAsync(Guid id, uint rowVersion, JsonElement definition, EventContext? context, CancellationToken cancellationToken)
    {
        var json = definition.GetRawText();
        CheckJsonb(json, "/definition");
        JsonDepth.Check(json, _maxDepth, "/definition", "The form definition");
        SchemaValidator.CheckDefinition(definition);
        var updated = await WriteAsync(
            $"update {_table} set definition = @definition::jsonb where id = @id and xmin = @row_version::text::xid and status = 'draft' returning {Columns}",
            [P("id", id), P("row_version", rowVersion.ToString(System.Globalization.CultureInfo.InvariantCulture)), P("definition", json)],
            row => [Event("form.definition.updated", row, context, new { row.Name, row.Version })],
            cancellationToken).ConfigureAwait(false);
        if (updated is not null)
        {
            return updated;
        }

        var current = (await QueryAsync(_dataSource, $"select {Columns} from {_table} where id = @id", [P("id", id)], cancellationToken).ConfigureAwait(false)).SingleOrDefault()
            ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
        if (current.Status != FormDefinitionStatus.Draft)
        {
            throw new PliersConflictException($"Form '{current.Name}' version {current.Version} is {Status(current.Status)}; only drafts can be edited. Create a new version instead.", "form_definitions_immutable");
        }

        throw new PliersConcurrencyException($"Form '{current.Name}' version {current.Version} was changed by someone else; read it again.", id, rowVersion, current.RowVersion);
    }

    public Task<FormDefinition> PublishAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default) =>
        PliersTelemetry.TraceAsync("definitions.publish", () => PublishCoreAsync(id, context, cancellationToken));

    private async Task<FormDefinition> PublishCoreAsync(Guid id, EventContext? context, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                // Lock every version of the name: concurrent publishes of one form take turns.
                var versions = await QueryAsync(
                    connection,
                    $"select {Columns} from {_table} where name = (select name from {_table} where id = @id) order by version for update",
                    [P("id", id)],
                    cancellationToken).ConfigureAwait(false);
                var target = versions.FirstOrDefault(v => v.Id == id) ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
                if (target.Status != FormDefinitionStatus.Draft)
                {
                    throw new PliersConflictException($"Form '{target.Name}' version {target.Version} is {Status(target.Status)}; only a draft can be published.", "form_definitions_status_transition");
                }

                var batch = new NpgsqlBatch(connection, transaction);
                var previous = versions.FirstOrDefault(v => v.Status == FormDefinitionStatus.Active);
                if (previous is not null)
                {
                    batch.BatchCommands.Add(Command($"update {_table} set status = 'archived' where id = @id", P("id", previous.Id)));
                    batch.BatchCommands.Add(_events.AppendCommand(previous.Id, AggregateType, [Event("form.definition.deprecated", previous, context, new { previous.Name, previous.Version, SupersededBy = target.Version })]));
                }

                batch.BatchCommands.Add(Command($"update {_table} set status = 'active' where id = @id returning {Columns}", P("id", id)));
                batch.BatchCommands.Add(_events.AppendCommand(id, AggregateType, [Event("form.definition.published", target, context, new { target.Name, target.Version, Previous = previous?.Version })]));
                FormDefinition? published = null;
                await using (batch.ConfigureAwait(false))
                {
                    try
                    {
                        await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                        do
                        {
                            if (reader.FieldCount == 8 && await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                            {
                                published = Read(reader);
                            }
                        }
                        while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false));
                    }
                    catch (PostgresException e) when (Translate(e) is { } translated)
                    {
                        throw translated;
                    }
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                _events.Announce(previous is null ? 1 : 2);
                return published ?? throw new InvalidOperationException("The publish returned no row.");
            }
        }
    }

    public async Task<FormDefinition> ArchiveAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default)
    {
        var archived = await WriteAsync(
            $"update {_table} set status = 'archived' where id = @id and status <> 'archived' returning {Columns}",
            [P("id", id)],
            row => [Event("form.definition.deprecated", row, context, new { row.Name, row.Version })],
            cancellationToken).ConfigureAwait(false);
        if (archived is not null)
        {
            return archived;
        }

        var current = (await QueryAsync(_dataSource, $"select {Columns} from {_table} where id = @id", [P("id", id)], cancellationToken).ConfigureAwait(false)).SingleOrDefault()
            ?? throw new PliersNotFoundException($"Form definition {id} does not exist.");
        throw new PliersConflictException($"Form '{current.Name}' version {current.Version} is already archived.", "form_definitions_status_transition");
    }

    public async Task<FormDefinition?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default) =>
        (await QueryAsync(_read, $"select {Columns} from {_table} where id = @id", [P("id", id)], cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public async Task<FormDefinition?> GetAsync(string name, int version, CancellationToken cancellationToken = default) =>
        (await QueryAsync(_read, $"select {Columns} from {_table} where name = @name and version = @version", [P("name", FormName(name)), P("version", version)], cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public async Task<FormDefinition?> GetActiveAsync(string name, CancellationToken cancellationToken = default) =>
        (await QueryAsync(_read, $"select {Columns} from {_table} where name = @name and status = 'active'", [P("name", FormName(name))], cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public async Task<IReadOnlyList<FormDefinition>> GetVersionsAsync(string name, CancellationToken cancellationToken = default) =>
        await QueryAsync(_read, $"select {Columns} from {_table} where name = @name order by version", [P("name", FormName(name))], cancellationToken).ConfigureAwait(false);

    public async Task<Page<FormDefinition>> ListAsync(FormDefinitionQuery query, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        if (query.PageSize is < 1 or > 500)
        {
            throw new ArgumentOutOfRangeException(nameof(query), query.PageSize, "PageSize must be between 1 and 500.");
        }

        var (afterName, afterVersion) = query.Cursor is null ? (string.Empty, 0) : Decode(query.Cursor);
        var sql = $"select {Columns} from {_table} where (name, version) > (@after_name, @after_version)";
        var parameters = new List<NpgsqlParameter> { P("after_name", afterName), P("after_version", afterVersion), P("limit", query.PageSize + 1) };
        if (query.Status is { } status)
        {
            sql += " and status = @status";
            parameters.Add(P("status", Status(status)));
        }

        if (!string.IsNullOrEmpty(query.NamePrefix))
        {
            sql += " and starts_with(name, @prefix)";
            parameters.Add(P("prefix", query.NamePrefix));
        }

        var rows = await QueryAsync(_read, sql + " order by name, version limit @limit", [.. parameters], cancellationToken).ConfigureAwait(false);
        var items = rows.Take(query.PageSize).ToArray();
        return new Page<FormDefinition>(items, rows.Count > query.PageSize ? Cursor(items[^1].Name, items[^1].Version) : null);

        static (string, int) Decode(string cursor)
        {
            var parts = ReadCursor(cursor, 2);
            return int.TryParse(parts[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version)
                ? (parts[0], version)
                : throw BadCursor();
        }
    }

    internal static string Status(FormDefinitionStatus status) => status switch
    {
        FormDefinitionStatus.Draft => "draft",
        FormDefinitionStatus.Active => "active",
        _ => "archived",
    };

    private static FormDefinitionStatus ParseStatus(string status) => status switch
    {
        "draft" => FormDefinitionStatus.Draft,
        "active" => FormDefinitionStatus.Active,
        _ => FormDefinitionStatus.Archived,
    };

    private static NewEvent Event(string type, FormDefinition row, EventContext? context, object data) =>
        NewEvent.Create(type, data) with { CorrelationId = context?.CorrelationId, CausationId = context?.CausationId };

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        command.Parameters.AddRange(parameters);
        return command;
    }

    /// <summary>One statement that returns the row, and its domain event, in one transaction and one round trip.</summary>
    private async Task<FormDefinition?> WriteAsync(string sql, NpgsqlParameter[] parameters, Func<FormDefinition, NewEvent[]> events, CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                FormDefinition? row;
                try
                {
                    var rows = await QueryAsync(connection, sql, parameters, cancellationToken, transaction).ConfigureAwait(false);
                    row = rows.SingleOrDefault();
                    if (row is null)
                    {
                        return null;
                    }

                    var batch = new NpgsqlBatch(connection, transaction);
                    await using (batch.ConfigureAwait(false))
                    {
                        batch.BatchCommands.Add(_events.AppendCommand(row.Id, AggregateType, events(row)));
                        await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
                catch (PostgresException e) when (Translate(e) is { } translated)
                {
                    throw translated;
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                _events.Announce(1);
                return row;
            }
        }
    }

    private static PliersDataException? Translate(PostgresException e) => e switch
    {
        { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "form_definitions_name_version_key" } =>
            new PliersConflictException("A form with this name and version already exists.", e.ConstraintName, e),
        { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "form_definitions_one_active_per_name" } =>
            new PliersConflictException("Another version of this form was published at the same time.", e.ConstraintName, e),
        { SqlState: PostgresErrorCodes.RestrictViolation, ConstraintName: { } rule } when rule.StartsWith("form_definitions_", StringComparison.Ordinal) =>
            new PliersConflictException("The form definition cannot change this way: " + rule.Replace('_', ' '), rule, e),
        _ => PostgresErrors.Translate(e),
    };

    private async Task<IReadOnlyList<FormDefinition>> QueryAsync(NpgsqlDataSource dataSource, string sql, NpgsqlParameter[] parameters, CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await QueryAsync(connection, sql, parameters, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IReadOnlyList<FormDefinition>> QueryAsync(NpgsqlConnection connection, string sql, NpgsqlParameter[] parameters, CancellationToken cancellationToken, NpgsqlTransaction? transaction = null)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<FormDefinition>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(Read(reader));
        }

        return rows;
    }

    private FormDefinition Read(NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetString(1),
        reader.GetInt32(2),
        ParseStatus(reader.GetString(3)),
        JsonDepth.Read(reader, 4, _maxDepth),
        reader.GetFieldValue<DateTimeOffset>(5),
        reader.GetFieldValue<DateTimeOffset>(6),
        reader.GetFieldValue<uint>(7));
}
