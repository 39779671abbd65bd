using System.Globalization;
using System.Text.Json;
using Dapper;
using Pliers.Data.Forms;
using Pliers.Data.Internal;
using static Pliers.Data.Internal.Db;

namespace Pliers.Data.Submissions;

/// <summary>
/// The one home of the <c>form_submissions</c> table: its name, its column list and every statement the library runs
/// against it, the filtered queries included.
/// </summary>
internal sealed class FormSubmissionsTable
{
    /// <summary>The columns of a submission, aliased to the names of <see cref="SubmissionRow"/>.</summary>
    private const string Select =
        "id as Id, form_definition_id as FormDefinitionId, form_version as FormVersion, status as Status, data as Data, title as Title, " +
        "priority as Priority, created_at as CreatedAt, updated_at as UpdatedAt, xmin as RowVersion";

    /// <summary>The columns binary COPY writes (bulk import).</summary>
    private const string CopyColumns = "id, form_definition_id, form_version, data, status";

    private readonly FormDefinitionsTable _definitions;

    public FormSubmissionsTable(PliersDatabase database, FormDefinitionsTable definitions)
    {
        _definitions = definitions;
        var t = Name = database.QuotedSchema + ".form_submissions";
        Insert = $"insert into {t} (id, form_definition_id, form_version, data) values (@id, @definition, @version, @data::jsonb) returning {Select}";
        UpdateData = $"update {t} set data = @data::jsonb where id = @id returning {Select}";
        UpdateStatus = $"update {t} set status = @status where id = @id returning {Select}";
        LockWithSchema = $"""
            select s.id as Id, s.form_definition_id as FormDefinitionId, s.form_version as FormVersion, s.status as Status, s.data as Data,
                   s.title as Title, s.priority as Priority, s.created_at as CreatedAt, s.updated_at as UpdatedAt, s.xmin as RowVersion,
                   d.definition -> 'schema' as Schema
            from {t} s join {definitions.Name} d on d.id = s.form_definition_id
            where s.id = @id
            for update of s
            """;
        ById = $"select {Select} from {t} where id = @id";
        CopyIn = $"copy {t} ({CopyColumns}) from stdin (format binary)";
    }

    /// <summary>Gets the quoted, schema-qualified table name.</summary>
    public string Name { get; }

    public string Insert { get; }

    public string UpdateData { get; }

    public string UpdateStatus { get; }

    /// <summary>Locks a submission for a change and reads the schema of its own form version.</summary>
    public string LockWithSchema { get; }

    public string ById { get; }

    public string CopyIn { get; }

    /// <summary>The page query exactly as it runs (the plan tests EXPLAIN it).</summary>
    public (string Sql, DynamicParameters Parameters) Page(SubmissionQuery query)
    {
        var (where, parameters) = Filter(query, withCursor: true);
        parameters.Add("limit", query.PageSize + 1);
        return ($"select {Select} from {Name} where {where} order by created_at desc, id desc limit @limit", parameters);
    }

    public (string Sql, DynamicParameters Parameters) Count(SubmissionQuery query)
    {
        var (where, parameters) = Filter(query, withCursor: false);
        return ($"select count(*) from {Name} where {where}", parameters);
    }

    public (string Sql, DynamicParameters Parameters) Stream(SubmissionQuery query)
    {
        var (where, parameters) = Filter(query, withCursor: false);
        return ($"select {Select} from {Name} where {where} order by created_at desc, id desc", parameters);
    }

    /// <summary>
    /// Builds the WHERE clause from parameters only. When a form is given, containment is written as the
    /// function jsonb_contains() (not the @> operator) so the planner cannot combine the GIN index with the
    /// (form, created_at) b-tree in a BitmapAnd: it walks the b-tree newest first and stops after a page.
    /// </summary>
    private (string Where, DynamicParameters Parameters) Filter(SubmissionQuery query, bool withCursor)
    {
        var where = new List<string>();
        var parameters = new DynamicParameters();
        var byForm = false;
        if (query.FormDefinitionId is { } definitionId)
        {
            byForm = true;
            parameters.Add("definition_id", definitionId);
            where.Add(query.AllVersions ? $"form_definition_id in ({_definitions.IdsOfNameOfId})" : "form_definition_id = @definition_id");
        }

        if (!string.IsNullOrEmpty(query.FormName))
        {
            byForm = true;
            parameters.Add("form_name", FormName(query.FormName));
            where.Add($"form_definition_id in ({_definitions.IdsOfName})");
        }

        if (query.Status is { } status)
        {
            parameters.Add("status", Status(status));
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
            parameters.Add("contains", json);
            where.Add(byForm ? "jsonb_contains(data, @contains::jsonb)" : "data @> @contains::jsonb");
        }

        if (query.PriorityFrom is { } from)
        {
            parameters.Add("priority_from", from);
            where.Add("priority >= @priority_from");
        }

        if (query.PriorityTo is { } to)
        {
            parameters.Add("priority_to", to);
            where.Add("priority <= @priority_to");
        }

        if (!string.IsNullOrEmpty(query.TitlePrefix))
        {
            var escaped = query.TitlePrefix.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);
            parameters.Add("title_prefix", escaped + "%");
            where.Add("title like @title_prefix");
        }

        if (query.CreatedFrom is { } createdFrom)
        {
            parameters.Add("created_from", createdFrom.ToUniversalTime());
            where.Add("created_at >= @created_from");
        }

        if (query.CreatedTo is { } createdTo)
        {
            parameters.Add("created_to", createdTo.ToUniversalTime());
            where.Add("created_at < @created_to");
        }

        if (withCursor && query.Cursor is { } cursor)
        {
            var parts = ReadCursor(cursor, 2);
            if (!long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) || ticks > DateTimeOffset.MaxValue.UtcTicks || !Guid.TryParse(parts[1], out var afterId))
            {
                throw BadCursor();
            }

            parameters.Add("after_created", new DateTimeOffset(ticks, TimeSpan.Zero));
            parameters.Add("after_id", afterId);
            where.Add("(created_at, id) < (@after_created, @after_id)");
        }

        return (where.Count == 0 ? "true" : string.Join(" and ", where), parameters);
    }

    internal static string Status(SubmissionStatus status) => status.ToString().ToLowerInvariant();

    internal static SubmissionStatus ParseStatus(string status) => Enum.Parse<SubmissionStatus>(status, ignoreCase: true);
}

/// <summary>A submission as <see cref="FormSubmissionsTable"/> reads it; columns are matched by name.</summary>
internal record SubmissionRow(Guid Id, Guid FormDefinitionId, int FormVersion, string Status, string Data, string? Title, int? Priority, DateTime CreatedAt, DateTime UpdatedAt, uint RowVersion)
{
    public FormSubmission ToSubmission(int maxDepth) => new(
        Id,
        FormDefinitionId,
        FormVersion,
        FormSubmissionsTable.ParseStatus(Status),
        JsonDepth.Parse(Data, maxDepth),
        Title,
        Priority,
        DefinitionRow.Utc(CreatedAt),
        DefinitionRow.Utc(UpdatedAt),
        RowVersion);
}

/// <summary>A locked submission with the schema of its own form version.</summary>
internal sealed record LockedSubmissionRow(Guid Id, Guid FormDefinitionId, int FormVersion, string Status, string Data, string? Title, int? Priority, DateTime CreatedAt, DateTime UpdatedAt, uint RowVersion, string Schema)
    : SubmissionRow(Id, FormDefinitionId, FormVersion, Status, Data, Title, Priority, CreatedAt, UpdatedAt, RowVersion);
