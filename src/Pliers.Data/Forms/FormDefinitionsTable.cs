using Dapper;
using Pliers.Data.Internal;

namespace Pliers.Data.Forms;

/// <summary>
/// The one home of the <c>form_definitions</c> table: its name, its column list and every statement the library runs
/// against it (the submission repository's "which version is active" lookups included).
/// </summary>
internal sealed class FormDefinitionsTable
{
    /// <summary>The columns of a definition, aliased to the names of <see cref="DefinitionRow"/>.</summary>
    private const string Select =
        "id as Id, name as Name, version as Version, status as Status, definition as Definition, created_at as CreatedAt, updated_at as UpdatedAt, xmin as RowVersion";

    public FormDefinitionsTable(PliersDatabase database)
    {
        var t = Name = database.QuotedSchema + ".form_definitions";
        var ct = database.CurrentTenant;
        var tn = $"tenant_id = {ct}";
        Insert = $"insert into {t} (id, name, version, definition) values (@id, @name, @version, @definition::jsonb) returning {Select}";
        UpdateDraft = $"update {t} set definition = @definition::jsonb where id = @id and xmin = @row_version::text::xid and status = 'draft' and {tn} returning {Select}";
        LockVersionsOfName = $"select {Select} from {t} where {tn} and name = (select name from {t} where id = @id and {tn}) order by version for update";
        SetStatus = $"update {t} set status = @status where id = @id and {tn} returning {Select}";
        // FOR UPDATE first (a plain UPDATE of a non-key column would only take FOR NO KEY UPDATE, which submission
        // writes holding FOR KEY SHARE do not block): archiving waits for in-flight submissions to this version.
        Archive = $"""
            update {t} set status = 'archived'
            from (select id as locked_id from {t} where id = @id and {tn} for update) locked
            where id = locked.locked_id and status <> 'archived'
            returning {Select}
            """;
        DeleteDraft = $"delete from {t} where id = @id and status = 'draft' and {tn} returning {Select}";

        // Check before publish: the live submissions of the name's active version that the draft's schema refuses, a
        // page at a time (newest first, keyset), each with its errors. The draft's compiled columns decide per row
        // (jsonb_matches_definition); the error list is built only for the rows of the page.
        var submissions = database.QuotedSchema + ".form_submissions";
        CheckDraft = $"""
            with draft as (
                select d from {t} d where d.id = @id and d.status = 'draft' and d.tenant_id = {ct}
            ), failing as (
                select s.id, s.created_at, s.data
                from {submissions} s, draft
                where s.form_definition_id = (select a.id from {t} a where a.tenant_id = {ct} and a.name = (draft.d).name and a.status = 'active')
                  and s.deleted_at is null and s.tenant_id = {ct}
                  and (s.created_at, s.id) < (@after_created, @after_id)
                  and not {database.QuotedSchema}.jsonb_matches_definition(draft.d, s.data)
                order by s.created_at desc, s.id desc
                limit @limit
            )
            select f.id as SubmissionId, f.created_at as CreatedAt, e.path as Path, e.keyword as Keyword, e.message as Message, e.detail::text as Detail
            from failing f, draft, {database.QuotedSchema}.jsonb_schema_errors((draft.d).definition -> 'schema', f.data) e
            order by f.created_at desc, f.id desc
            """;
        ById = $"select {Select} from {t} where id = @id and {tn}";
        ByNameAndVersion = $"select {Select} from {t} where {tn} and name = @name and version = @version";
        ActiveByName = $"select {Select} from {t} where {tn} and name = @name and status = 'active'";
        VersionsOfName = $"select {Select} from {t} where {tn} and name = @name order by version";
        ListHead = $"select {Select} from {t} where {tn} and (name, version) > (@after_name, @after_version)";
        SchemaForSubmissionByName = $"select id as Id, version as Version, status as Status, definition -> 'schema' as Schema, name as Name from {t} where {tn} and name = @key and status = 'active'";
        SchemaForSubmissionById = $"select id as Id, version as Version, status as Status, definition -> 'schema' as Schema, name as Name from {t} where id = @key and {tn}";
        LockActiveForImport = $"select row_security_active('{submissions}'::regclass) from {t} where id = @id and status = 'active' and {tn} for key share";
        Notify = $"select pg_notify('{ActiveDefinitionCache.Channel}', @payload)";
        IdsOfName = $"select id from {t} where {tn} and name = @form_name";
        IdsOfNameOfId = $"select id from {t} where {tn} and name = (select name from {t} where id = @definition_id and {tn})";
    }

    /// <summary>Gets the quoted, schema-qualified table name.</summary>
    public string Name { get; }

    public string Insert { get; }

    public string UpdateDraft { get; }

    /// <summary>Locks every version of the definition's name: concurrent publishes of one form take turns.</summary>
    public string LockVersionsOfName { get; }

    public string SetStatus { get; }

    public string Archive { get; }

    /// <summary>The page of live submissions of the active version that a draft's schema refuses, with their errors.</summary>
    public string CheckDraft { get; }

    /// <summary>Deletes a draft (the guard trigger refuses any other status as well).</summary>
    public string DeleteDraft { get; }

    public string ById { get; }

    public string ByNameAndVersion { get; }

    public string ActiveByName { get; }

    public string VersionsOfName { get; }

    public string ListHead { get; }

    /// <summary>The active version of a form by name, with its schema (what <see cref="ActiveDefinitionCache"/> keeps).</summary>
    public string SchemaForSubmissionByName { get; }

    /// <summary>One version by id, with its schema and status.</summary>
    public string SchemaForSubmissionById { get; }

    /// <summary>
    /// Locks a version for a bulk import if it is still active, answering whether row-level security applies to this
    /// session on <c>form_submissions</c> (COPY FROM is refused then; <see cref="Internal.Db.CopyAsync"/>); no row when
    /// the version is not active. <c>FOR KEY SHARE</c> is the lock the foreign key check takes anyway, so concurrent
    /// imports share it; publish and archive lock the version <c>FOR UPDATE</c>, so they wait for imports in flight.
    /// </summary>
    public string LockActiveForImport { get; }

    /// <summary>Tells every host's <see cref="ActiveDefinitionCache"/> that the active version of a form changed (on commit).</summary>
    public string Notify { get; }

    /// <summary>The ids of every version of a name (a sub-query of submission filters).</summary>
    public string IdsOfName { get; }

    /// <summary>The ids of every version of the definition's name (a sub-query of submission filters).</summary>
    public string IdsOfNameOfId { get; }

    /// <summary>The keyset page query with its optional filters.</summary>
    public (string Sql, DynamicParameters Parameters) List(FormDefinitionQuery query, string afterName, int afterVersion)
    {
        var sql = ListHead;
        var parameters = new DynamicParameters(new { after_name = afterName, after_version = afterVersion, limit = query.PageSize + 1 });
        if (query.Status is { } status)
        {
            sql += " and status = @status";
            parameters.Add("status", Status(status));
        }

        if (!string.IsNullOrEmpty(query.NamePrefix))
        {
            sql += " and starts_with(name, @prefix)";
            parameters.Add("prefix", query.NamePrefix);
        }

        return (sql + " order by name, version limit @limit", parameters);
    }

    internal static string Status(FormDefinitionStatus status) => status switch
    {
        FormDefinitionStatus.Draft => "draft",
        FormDefinitionStatus.Active => "active",
        _ => "archived",
    };

    internal static FormDefinitionStatus ParseStatus(string status) => status switch
    {
        "draft" => FormDefinitionStatus.Draft,
        "active" => FormDefinitionStatus.Active,
        _ => FormDefinitionStatus.Archived,
    };
}

/// <summary>A definition as <see cref="FormDefinitionsTable"/> reads it; columns are matched by name.</summary>
internal sealed record DefinitionRow(Guid Id, string Name, int Version, string Status, string Definition, DateTime CreatedAt, DateTime UpdatedAt, uint RowVersion)
{
    public FormDefinition ToDefinition(int maxDepth) => new(
        Id,
        Name,
        Version,
        FormDefinitionsTable.ParseStatus(Status),
        JsonDepth.Parse(Definition, maxDepth),
        Utc(CreatedAt),
        Utc(UpdatedAt),
        RowVersion);

    internal static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));
}

/// <summary>The definition a submission is validated against: id, version, status, its schema and the form's name.</summary>
internal sealed record SubmissionSchemaRow(Guid Id, int Version, string Status, string Schema, string Name);
