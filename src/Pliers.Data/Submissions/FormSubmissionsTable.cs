using System.Globalization;
using System.Text.Json;
using Dapper;
using Pliers.Data.Events;
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
    private static readonly string Select = Columns(string.Empty);

    /// <summary>The columns binary COPY writes (bulk import).</summary>
    private const string CopyColumns = "id, form_definition_id, form_version, data, status";

    private readonly FormDefinitionsTable _definitions;

    public FormSubmissionsTable(PliersDatabase database, FormDefinitionsTable definitions, EventsTable events)
    {
        _definitions = definitions;
        var t = Name = database.QuotedSchema + ".form_submissions";
        var ct = database.CurrentTenant;
        var tn = Tenant = $"tenant_id = {ct}";
        Revisions = database.QuotedSchema + ".form_submission_revisions";

        // Each write below is one statement: the check, the row and its event, sent once and committed once (no
        // explicit transaction for create and status change). What was refused, and why, comes back as data.

        // The version must still be active when the row goes in: FOR KEY SHARE is the lock the foreign key takes
        // anyway; publish/archive lock the version FOR UPDATE, so a racing publish either waits for this insert or
        // makes this statement re-read the version, find it archived and insert nothing.
        Create = new PositionalStatement($"""
            with definition as (
                select id, version from {definitions.Name} where id = @definition and status = 'active' and {tn} for key share
            ), changed as (
                insert into {t} (id, form_definition_id, form_version, data, revision_correlation_id, revision_causation_id)
                select @id, d.id, d.version, @data::jsonb, @correlation_id, @causation_id from definition d
                returning {Select}
            ), event as (
                {events.InsertOneFrom("changed", "@event_data::jsonb", "1")}
            )
            select * from changed
            """);

        // A change applies only when the caller's row version is the row's (and, for a status change, the move is
        // allowed from its status); the update itself is the lock. A row changed concurrently fails the row-version
        // check when the update re-reads it, so nothing is written. No row back means refused: State then tells why.
        // The event's "from" is @from_status when the move has one possible source (every move but archiving); else the
        // sub-select reads it, seeing the statement's snapshot, i.e. the row as it was before the update. COALESCE
        // evaluates the sub-select (an init plan) only when it needs it: the common moves skip a second index look-up.
        ChangeStatus = new PositionalStatement($"""
            with changed as (
                update {t} s set status = @status
                where s.id = @id and s.xmin = @row_version::text::xid and s.status = any(@from) and s.deleted_at is null and s.tenant_id = {ct}
                returning {Columns("s.")}
            ), event as (
                {events.InsertOneFrom("changed", $"jsonb_build_object('from', coalesce(@from_status::text, (select status from {t} where id = @id and {tn})), 'to', @status::text)", events.NextVersionOfId)}
            )
            select * from changed
            """);
        // The replaced revision moves to the history in the same statement: the join reads the row as the statement's
        // snapshot saw it, i.e. before the update (which only succeeds when nobody changed it since).
        UpdateData = $"""
            with changed as (
                update {t} s set data = @data::jsonb, revision = s.revision + 1, revised_at = now(),
                                 revision_correlation_id = @correlation_id, revision_causation_id = @causation_id
                where s.id = @id and s.xmin = @row_version::text::xid and s.deleted_at is null and s.tenant_id = {ct}
                returning {Columns("s.")}
            ), history as (
                insert into {Revisions} (submission_id, revision, data, created_at, correlation_id, causation_id, tenant_id)
                select o.id, o.revision, o.data, coalesce(o.revised_at, o.created_at), o.revision_correlation_id, o.revision_causation_id, o.tenant_id
                from {t} o join changed c on c.id = o.id
            ), event as (
                {events.InsertOneFrom("changed", "jsonb_build_object('formDefinitionId', changed.formdefinitionid, 'formVersion', changed.formversion, 'revision', changed.revision)", events.NextVersionOfId)}
            )
            select * from changed
            """;
        State = $"select status as Status, xmin as RowVersion, deleted_at is not null as Deleted from {t} where id = @id and {tn}";

        // Soft delete and restore: one statement each, the row and its event; nothing back means refused (State says why).
        SetDeleted = $"""
            with changed as (
                update {t} s set deleted_at = case when @deleted then now() end
                where s.id = @id and (s.deleted_at is null) = @deleted and s.tenant_id = {ct}
                returning {Columns("s.")}
            ), event as (
                {events.InsertOneFrom("changed", "'{}'::jsonb", events.NextVersionOfId)}
            )
            select * from changed
            """;

        // Purge: deleted rows older than the cut-off, a batch at a time (their revisions go by the cascade), each with a
        // data-free event. Rows are locked first so a concurrent restore either wins or waits and finds them gone.
        Purge = $"""
            with doomed as (
                select id from {t} where deleted_at is not null and deleted_at < @before and {tn}
                order by deleted_at, id limit @batch for update skip locked
            ), purged as (
                delete from {t} s using doomed d where s.id = d.id and s.deleted_at is not null returning s.id
            ), event as (
                insert into {events.Name} (id, aggregate_id, aggregate_type, event_type, event_data, event_version, correlation_id, causation_id)
                select gen_random_uuid(), p.id, @aggregate_type, @event_type, jsonb_build_object('purgedAt', now()),
                       coalesce((select event_version from {events.Name} e where e.aggregate_id = p.id order by event_version desc limit 1), 0) + 1,
                       @correlation_id, @causation_id
                from purged p
            )
            select count(*)::int from purged
            """;

        // Every revision of a submission: the replaced ones from the history, the current one from the row.
        const string RevisionColumns = "revision as Revision, data as Data, created_at as CreatedAt, correlation_id as CorrelationId, causation_id as CausationId";
        RevisionsOf = $"""
            select {RevisionColumns} from {Revisions} where submission_id = @id and (@revision::int is null or revision = @revision) and {tn}
              and exists (select from {t} where id = @id and deleted_at is null and {tn})
            union all
            select revision, data, coalesce(revised_at, created_at), revision_correlation_id, revision_causation_id from {t}
            where id = @id and (@revision::int is null or revision = @revision) and deleted_at is null and {tn}
            order by 1
            """;
        ById = $"select {Select} from {t} where id = @id and deleted_at is null and {tn}";
        DefinitionOf = $"select form_definition_id from {t} where id = @id and {tn}";
    }

    /// <summary>Gets the quoted, schema-qualified table name.</summary>
    public string Name { get; }

    /// <summary>The library's tenant condition on this table (<c>tenant_id = current_tenant()</c>).</summary>
    public string Tenant { get; }

    /// <summary>Checks that the named version is active, inserts the submission and its created event.</summary>
    public PositionalStatement Create { get; }

    /// <summary>Checks the row version and the move, changes the status and appends the event; the changed row or nothing.</summary>
    public PositionalStatement ChangeStatus { get; }

    /// <summary>Checks the row version, replaces the data and appends the event; the changed row or nothing.</summary>
    public string UpdateData { get; }

    /// <summary>Gets the quoted name of the revision history table.</summary>
    public string Revisions { get; }

    /// <summary>A submission's revisions (all, or the one <c>@revision</c> names), oldest first.</summary>
    public string RevisionsOf { get; }

    /// <summary>Soft-deletes (<c>@deleted</c> true) or restores a submission with its event; the row or nothing.</summary>
    public string SetDeleted { get; }

    /// <summary>Removes up to <c>@batch</c> submissions deleted before <c>@before</c>, each with its event; the count.</summary>
    public string Purge { get; }

    /// <summary>A submission's status and row version (<see cref="SubmissionState"/>): why a change was refused.</summary>
    public string State { get; }

    public string ById { get; }

    /// <summary>The definition version a submission belongs to.</summary>
    public string DefinitionOf { get; }

    /// <summary>The columns bulk import writes by binary COPY, in order.</summary>
    public static string CopyIn => CopyColumns;

    private static string Columns(string alias) =>
        $"{alias}id as Id, {alias}form_definition_id as FormDefinitionId, {alias}form_version as FormVersion, {alias}status as Status, {alias}data as Data, " +
        $"{alias}title as Title, {alias}priority as Priority, {alias}created_at as CreatedAt, {alias}updated_at as UpdatedAt, {alias}xmin as RowVersion, {alias}revision as Revision, {alias}deleted_at as DeletedAt";

    /// <summary>The page query exactly as it runs (the plan tests EXPLAIN it).</summary>
    public (string Sql, DynamicParameters Parameters) Page(SubmissionQuery query, bool namedTenant)
    {
        var (where, parameters) = Filter(query, withCursor: true, namedTenant);
        parameters.Add("limit", query.PageSize + 1);
        return ($"select {Select} from {Name} where {where} order by created_at desc, id desc limit @limit", parameters);
    }

    public (string Sql, DynamicParameters Parameters) Count(SubmissionQuery query, bool namedTenant)
    {
        var (where, parameters) = Filter(query, withCursor: false, namedTenant);
        return ($"select count(*) from {Name} where {where}", parameters);
    }

    public (string Sql, DynamicParameters Parameters) Stream(SubmissionQuery query, bool namedTenant)
    {
        var (where, parameters) = Filter(query, withCursor: false, namedTenant);
        return ($"select {Select} from {Name} where {where} order by created_at desc, id desc", parameters);
    }

    /// <summary>
    /// Builds the WHERE clause from parameters only. When a form is given, containment is written as the
    /// function jsonb_contains() (not the @> operator) so the planner cannot combine the GIN index with the
    /// (form, created_at) b-tree in a BitmapAnd: it walks the b-tree newest first and stops after a page.
    /// A named tenant's query without a form walks that tenant's rows newest first (the partial index
    /// <c>form_submissions_tenant_created_idx</c>, which the literal <c>tenant_id &lt;&gt; ''</c> lets the planner use),
    /// with containment as a filter there too: the same plan whether or not row-level security applies to the role
    /// (under a policy PostgreSQL cannot use the GIN index for the non-leakproof <c>@&gt;</c> anyway).
    /// </summary>
    private (string Where, DynamicParameters Parameters) Filter(SubmissionQuery query, bool withCursor, bool namedTenant)
    {
        var where = new List<string> { Tenant };
        var parameters = new DynamicParameters();
        if (!query.IncludeDeleted)
        {
            where.Add("deleted_at is null");
        }

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
            where.Add(byForm || namedTenant ? "jsonb_contains(data, @contains::jsonb)" : "data @> @contains::jsonb");
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
            var (afterCreated, afterId) = ReadNewestFirstCursor(cursor);
            parameters.Add("after_created", afterCreated);
            parameters.Add("after_id", afterId);
            where.Add("(created_at, id) < (@after_created, @after_id)");
        }

        if (namedTenant && !byForm)
        {
            where.Add("tenant_id <> ''");
        }

        return (string.Join(" and ", where), parameters);
    }

    internal static string Status(SubmissionStatus status) => status.ToString().ToLowerInvariant();

    internal static SubmissionStatus ParseStatus(string status) => Enum.Parse<SubmissionStatus>(status, ignoreCase: true);
}

/// <summary>A submission as <see cref="FormSubmissionsTable"/> reads it; columns are matched by name.</summary>
internal record SubmissionRow(Guid Id, Guid FormDefinitionId, int FormVersion, string Status, string Data, string? Title, int? Priority, DateTime CreatedAt, DateTime UpdatedAt, uint RowVersion, int Revision, DateTime? DeletedAt)
{
    public FormSubmission ToSubmission(int maxDepth) => new FormSubmission(
        Id,
        FormDefinitionId,
        FormVersion,
        FormSubmissionsTable.ParseStatus(Status),
        JsonDepth.Parse(Data, maxDepth),
        Title,
        Priority,
        DefinitionRow.Utc(CreatedAt),
        DefinitionRow.Utc(UpdatedAt),
        RowVersion) { Revision = Revision, DeletedAt = DeletedAt is { } deleted ? DefinitionRow.Utc(deleted) : null };
}

/// <summary>A revision as <see cref="FormSubmissionsTable.RevisionsOf"/> reads it.</summary>
internal sealed record RevisionRow(int Revision, string Data, DateTime CreatedAt, Guid? CorrelationId, Guid? CausationId)
{
    public SubmissionRevision ToRevision(Guid submissionId, int maxDepth) =>
        new(submissionId, Revision, JsonDepth.Parse(Data, maxDepth), DefinitionRow.Utc(CreatedAt), CorrelationId, CausationId);
}

/// <summary>The status and row version of a submission, read after a change statement wrote nothing.</summary>
internal sealed record SubmissionState(string Status, uint RowVersion, bool Deleted);
