using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Pliers.Data.Forms;

namespace Pliers.Data.Submissions;

/// <summary>The workflow state of a submission.</summary>
public enum SubmissionStatus
{
    /// <summary>Saved but not handed in.</summary>
    Draft,

    /// <summary>Handed in, awaiting a decision.</summary>
    Submitted,

    /// <summary>Accepted.</summary>
    Approved,

    /// <summary>Refused.</summary>
    Rejected,

    /// <summary>Put away; reachable from any state.</summary>
    Archived,
}

/// <summary>A stored form submission.</summary>
/// <param name="Id">The submission id.</param>
/// <param name="FormDefinitionId">The definition version it was made against.</param>
/// <param name="FormVersion">That version's number.</param>
/// <param name="Status">The workflow state.</param>
/// <param name="Data">The submitted data, valid against the version's schema.</param>
/// <param name="Title">The generated <c>title</c> column (<c>data.title</c> when it is a string).</param>
/// <param name="Priority">The generated <c>priority</c> column (<c>data.priority</c> when it is an integer).</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
/// <param name="RowVersion">The concurrency token to pass back when changing it.</param>
public sealed record FormSubmission(
    Guid Id,
    Guid FormDefinitionId,
    int FormVersion,
    SubmissionStatus Status,
    JsonElement Data,
    string? Title,
    int? Priority,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    uint RowVersion)
{
    /// <summary>Gets the number of the current revision of <see cref="Data"/>: 1 when created, one more per data change.</summary>
    public int Revision { get; init; } = 1;

    /// <summary>Gets when the submission was soft-deleted, or <see langword="null"/> (deleted ones appear only in queries with <see cref="SubmissionQuery.IncludeDeleted"/>).</summary>
    public DateTimeOffset? DeletedAt { get; init; }

    /// <summary>Deserialises <see cref="Data"/> with System.Text.Json.</summary>
    /// <typeparam name="T">The submission's .NET type.</typeparam>
    /// <param name="options">Serializer options, or <see langword="null"/> for <see cref="JsonSerializerOptions.Web"/>.</param>
    /// <returns>The data.</returns>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="T"/>.</exception>
    public T? GetData<T>(JsonSerializerOptions? options = null) => Data.Deserialize<T>(options ?? JsonSerializerOptions.Web);

    /// <summary>Deserialises <see cref="Data"/> with source-generated metadata (trimming and AOT friendly).</summary>
    /// <typeparam name="T">The submission's .NET type.</typeparam>
    /// <param name="typeInfo">The source-generated type information of <typeparamref name="T"/>.</param>
    /// <returns>The data.</returns>
    /// <exception cref="JsonException">The data does not fit <typeparamref name="T"/>.</exception>
    public T? GetData<T>(JsonTypeInfo<T> typeInfo) => Data.Deserialize(typeInfo);
}

/// <summary>The file format of <see cref="IFormSubmissionRepository.ExportAsync"/>.</summary>
public enum SubmissionExportFormat
{
    /// <summary>Newline-delimited JSON: one object per submission (id, formVersion, status, revision, createdAt, updatedAt, deletedAt when deleted, data).</summary>
    Ndjson,

    /// <summary>
    /// CSV (RFC 4180, UTF-8, CRLF): metadata columns <c>_id</c>, <c>_form_version</c>, <c>_status</c>, <c>_revision</c>,
    /// <c>_created_at</c>, <c>_updated_at</c>, <c>_deleted_at</c>, then one column per property of the schemas of all the
    /// form's versions (nested objects as dotted columns; arrays and other values as JSON text).
    /// </summary>
    Csv,
}

/// <summary>One revision of a submission's data: immutable once replaced.</summary>
/// <param name="SubmissionId">The submission.</param>
/// <param name="Revision">The revision number, from 1.</param>
/// <param name="Data">The data as it was in this revision.</param>
/// <param name="CreatedAt">When this revision was made (the create, or the data change).</param>
/// <param name="CorrelationId">The correlation id of the write that made it, when given.</param>
/// <param name="CausationId">The causation id of the write that made it, when given.</param>
public sealed record SubmissionRevision(Guid SubmissionId, int Revision, JsonElement Data, DateTimeOffset CreatedAt, Guid? CorrelationId, Guid? CausationId);

/// <summary>Which submissions a query returns; every filter is optional and they combine with AND.</summary>
public sealed record SubmissionQuery
{
    /// <summary>Gets the definition version (any version of its form when <see cref="AllVersions"/> is set).</summary>
    public Guid? FormDefinitionId { get; init; }

    /// <summary>Gets the form name: submissions of every version of that form.</summary>
    public string? FormName { get; init; }

    /// <summary>Gets a value indicating whether <see cref="FormDefinitionId"/> stands for all versions of its form.</summary>
    public bool AllVersions { get; init; }

    /// <summary>Gets a value indicating whether soft-deleted submissions are returned too (<see cref="FormSubmission.DeletedAt"/> set); by default they are not.</summary>
    public bool IncludeDeleted { get; init; }

    /// <summary>Gets the status to keep.</summary>
    public SubmissionStatus? Status { get; init; }

    /// <summary>Gets a JSON object the data must contain (PostgreSQL <c>@&gt;</c>).</summary>
    public JsonElement? DataContains { get; init; }

    /// <summary>Gets the lowest priority to keep.</summary>
    public int? PriorityFrom { get; init; }

    /// <summary>Gets the highest priority to keep.</summary>
    public int? PriorityTo { get; init; }

    /// <summary>Gets the title prefix to keep (matched literally, case-sensitive).</summary>
    public string? TitlePrefix { get; init; }

    /// <summary>Gets the earliest creation time to keep (inclusive).</summary>
    public DateTimeOffset? CreatedFrom { get; init; }

    /// <summary>Gets the latest creation time to keep (exclusive).</summary>
    public DateTimeOffset? CreatedTo { get; init; }

    /// <summary>Gets the page size (1 to 500). The default is 50.</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>Gets the cursor returned with the previous page.</summary>
    public string? Cursor { get; init; }
}

/// <summary>Form submissions: validated create and update, status workflow, queries and bulk import.</summary>
public interface IFormSubmissionRepository
{
    /// <summary>Gets the tenant this repository works in: the empty string for the default tenant.</summary>
    string TenantId { get; }

    /// <summary>
    /// Returns this repository for one tenant: every call of the returned instance reads and writes only that tenant's
    /// rows (the library filters on it, new rows carry it, and with <see cref="PliersDataOptions.MultiTenant"/>
    /// row-level security enforces it for the application role). Cheap: it shares everything with this instance;
    /// take one per call or per request (docs/tenants.md).
    /// </summary>
    /// <param name="tenantId">The tenant: 1 to 100 characters, no leading or trailing white space, no control characters, not <c>*</c>.</param>
    /// <returns>The repository of that tenant.</returns>
    /// <exception cref="ArgumentException"><paramref name="tenantId"/> is not a valid tenant id.</exception>
    IFormSubmissionRepository ForTenant(string tenantId);

    /// <summary>Creates a submission for the active version of a form, validated against its schema, and appends <c>form.submission.created</c>.</summary>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The data: a JSON object.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored submission.</returns>
    /// <exception cref="PliersNotFoundException">No form has this name, or it has no active version.</exception>
    /// <exception cref="PliersValidationException">The data does not match the schema (every error with its JSON pointer), is too large or is not an object.</exception>
    Task<FormSubmission> CreateAsync(string formName, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Creates a submission for a definition version, which must be the active one.</summary>
    /// <param name="formDefinitionId">The active version's id.</param>
    /// <param name="data">The data: a JSON object.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored submission.</returns>
    /// <exception cref="PliersNotFoundException">The version does not exist.</exception>
    /// <exception cref="PliersConflictException">The version is not active.</exception>
    /// <exception cref="PliersValidationException">The data is invalid.</exception>
    Task<FormSubmission> CreateAsync(Guid formDefinitionId, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Replaces a submission's data (validated again), if nobody changed it since <paramref name="rowVersion"/>.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="rowVersion">The <see cref="FormSubmission.RowVersion"/> that was read.</param>
    /// <param name="data">The new data.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated submission.</returns>
    /// <exception cref="PliersConcurrencyException">It changed since it was read.</exception>
    /// <exception cref="PliersValidationException">The data is invalid.</exception>
    Task<FormSubmission> UpdateDataAsync(Guid id, uint rowVersion, JsonElement data, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Lists every revision of a submission's data, oldest first; the last is the current data.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The revisions.</returns>
    /// <exception cref="PliersNotFoundException">The submission does not exist.</exception>
    Task<IReadOnlyList<SubmissionRevision>> ListRevisionsAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Reads one revision of a submission's data.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="revision">The revision number.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The revision, or <see langword="null"/> when the submission or the revision does not exist.</returns>
    Task<SubmissionRevision?> GetRevisionAsync(Guid id, int revision, CancellationToken cancellationToken = default);

    /// <summary>
    /// The difference between two revisions as an RFC 6902 JSON Patch (an array of <c>add</c>, <c>remove</c> and
    /// <c>replace</c> operations) that turns revision <paramref name="from"/> into revision <paramref name="to"/>.
    /// </summary>
    /// <param name="id">The submission id.</param>
    /// <param name="from">The revision the patch applies to.</param>
    /// <param name="to">The revision the patch produces.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The patch; an empty array when the two are equal.</returns>
    /// <exception cref="PliersNotFoundException">The submission or one of the revisions does not exist.</exception>
    Task<JsonElement> DiffRevisionsAsync(Guid id, int from, int to, CancellationToken cancellationToken = default);

    /// <summary>
    /// Streams a form's submissions (every version of the form) to <paramref name="output"/> as NDJSON or CSV, in
    /// constant memory, newest first; <paramref name="filter"/> narrows it like a query (its form filters are replaced
    /// by <paramref name="formName"/>; deleted submissions only with <see cref="SubmissionQuery.IncludeDeleted"/>).
    /// </summary>
    /// <param name="formName">The form.</param>
    /// <param name="format">NDJSON or CSV.</param>
    /// <param name="output">Where to write; left open.</param>
    /// <param name="filter">Status, containment, priority, title and created filters, or <see langword="null"/>.</param>
    /// <param name="progress">Told the number of rows written every 10,000 rows, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the export.</param>
    /// <returns>The number of submissions written.</returns>
    /// <exception cref="PliersNotFoundException">No form has this name.</exception>
    Task<long> ExportAsync(string formName, SubmissionExportFormat format, Stream output, SubmissionQuery? filter = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default);

    /// <summary>Moves a submission through its workflow: draft → submitted → approved | rejected, and any → archived.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="rowVersion">The <see cref="FormSubmission.RowVersion"/> that was read.</param>
    /// <param name="status">The new status.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated submission.</returns>
    /// <exception cref="PliersConflictException">The move is not allowed from the current status.</exception>
    /// <exception cref="PliersConcurrencyException">It changed since it was read.</exception>
    Task<FormSubmission> ChangeStatusAsync(Guid id, uint rowVersion, SubmissionStatus status, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Soft-deletes a submission: it disappears from reads, queries, counts and streams (unless a query asks for
    /// deleted ones) and cannot be changed until restored; appends <c>form.submission.deleted</c> in the same statement.
    /// </summary>
    /// <param name="id">The submission id.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The deleted submission (with <see cref="FormSubmission.DeletedAt"/>).</returns>
    /// <exception cref="PliersNotFoundException">The submission does not exist.</exception>
    /// <exception cref="PliersConflictException">It is deleted already (rule <c>form_submissions_deleted</c>).</exception>
    Task<FormSubmission> DeleteAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Restores a soft-deleted submission; appends <c>form.submission.restored</c> in the same statement.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The restored submission.</returns>
    /// <exception cref="PliersNotFoundException">The submission does not exist (or was purged).</exception>
    /// <exception cref="PliersConflictException">It is not deleted (rule <c>form_submissions_not_deleted</c>).</exception>
    Task<FormSubmission> RestoreAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Removes for good the submissions soft-deleted longer ago than <paramref name="olderThan"/>, with all their
    /// revisions, in batches of 1,000 (each batch one transaction), each with a <c>form.submission.purged</c> event
    /// that carries no submission data.
    /// </summary>
    /// <param name="olderThan">How long a submission stays deleted before it may be purged (zero: every deleted one).</param>
    /// <param name="context">Correlation and causation ids for the events.</param>
    /// <param name="cancellationToken">Cancels between batches.</param>
    /// <returns>How many submissions were purged.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="olderThan"/> is negative.</exception>
    Task<int> PurgeAsync(TimeSpan olderThan, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Gets a submission, or <see langword="null"/>.</summary>
    /// <param name="id">The submission id.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The submission, or <see langword="null"/>.</returns>
    Task<FormSubmission?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Returns one page of matching submissions, newest first, with an opaque cursor for the next.</summary>
    /// <param name="query">Filters, page size and cursor.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The page.</returns>
    Task<Page<FormSubmission>> QueryAsync(SubmissionQuery query, CancellationToken cancellationToken = default);

    /// <summary>Counts matching submissions (page size and cursor are ignored).</summary>
    /// <param name="query">Filters.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The count.</returns>
    Task<long> CountAsync(SubmissionQuery query, CancellationToken cancellationToken = default);

    /// <summary>Streams every matching submission, newest first, without buffering.</summary>
    /// <param name="query">Filters (page size and cursor are ignored).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    /// <returns>The submissions.</returns>
    IAsyncEnumerable<FormSubmission> StreamAsync(SubmissionQuery query, CancellationToken cancellationToken = default);

    /// <summary>
    /// Imports many submissions for the active version of a form with binary COPY: all are validated first and
    /// written in one transaction with their <c>form.submission.created</c> events, or none are.
    /// </summary>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The data of each submission.</param>
    /// <param name="context">Correlation and causation ids for the events.</param>
    /// <param name="cancellationToken">Cancels the import.</param>
    /// <returns>How many submissions were imported.</returns>
    /// <exception cref="PliersValidationException">Some data is invalid; the paths start with the item's index (<c>/12/email</c>).</exception>
    Task<int> BulkImportAsync(string formName, IEnumerable<JsonElement> data, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Stores a submission for the active version of a form, with no event context.</summary>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The submission data: a JSON object valid against the form's schema.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored submission.</returns>
    Task<FormSubmission> CreateAsync(string formName, JsonElement data, CancellationToken cancellationToken) =>
        CreateAsync(formName, data, null, cancellationToken);

    /// <summary>Replaces a submission's data, with no event context.</summary>
    /// <param name="id">The submission's id.</param>
    /// <param name="rowVersion">The <see cref="FormSubmission.RowVersion"/> the caller read.</param>
    /// <param name="data">The new data.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated submission.</returns>
    Task<FormSubmission> UpdateDataAsync(Guid id, uint rowVersion, JsonElement data, CancellationToken cancellationToken) =>
        UpdateDataAsync(id, rowVersion, data, null, cancellationToken);

    /// <summary>Soft-deletes a submission, with no event context.</summary>
    /// <param name="id">The submission's id.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The deleted submission.</returns>
    Task<FormSubmission> DeleteAsync(Guid id, CancellationToken cancellationToken) => DeleteAsync(id, null, cancellationToken);

    /// <summary>Restores a soft-deleted submission, with no event context.</summary>
    /// <param name="id">The submission's id.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The restored submission.</returns>
    Task<FormSubmission> RestoreAsync(Guid id, CancellationToken cancellationToken) => RestoreAsync(id, null, cancellationToken);

    /// <summary>Moves a submission along its workflow, with no event context.</summary>
    /// <param name="id">The submission's id.</param>
    /// <param name="rowVersion">The <see cref="FormSubmission.RowVersion"/> the caller read.</param>
    /// <param name="status">The new status.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated submission.</returns>
    Task<FormSubmission> ChangeStatusAsync(Guid id, uint rowVersion, SubmissionStatus status, CancellationToken cancellationToken) =>
        ChangeStatusAsync(id, rowVersion, status, null, cancellationToken);

    /// <summary>Imports many submissions at once (all or nothing), with no event context.</summary>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The submissions.</param>
    /// <param name="cancellationToken">Cancels the import.</param>
    /// <returns>How many submissions were stored.</returns>
    Task<int> BulkImportAsync(string formName, IEnumerable<JsonElement> data, CancellationToken cancellationToken) =>
        BulkImportAsync(formName, data, null, cancellationToken);
}

/// <summary>
/// Typed submissions: serialize a .NET object with System.Text.Json and store it (extension methods, so that a call with
/// a <see cref="JsonElement"/> always binds to the repository's own methods).
/// </summary>
public static class FormSubmissionRepositoryExtensions
{
    /// <summary>
    /// Stores a submission serialized from <paramref name="data"/> with System.Text.Json (camelCase web defaults unless
    /// <paramref name="options"/> says otherwise).
    /// </summary>
    /// <typeparam name="T">The submission's .NET type.</typeparam>
    /// <param name="submissions">The repository.</param>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The submission, serialized to a JSON object.</param>
    /// <param name="options">Serializer options, or <see langword="null"/> for <see cref="JsonSerializerOptions.Web"/>.</param>
    /// <param name="context">Correlation and causation ids for the event, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored submission.</returns>
    public static Task<FormSubmission> CreateAsync<T>(this IFormSubmissionRepository submissions, string formName, T data, JsonSerializerOptions? options = null, EventContext? context = null, CancellationToken cancellationToken = default) =>
        submissions.CreateAsync(formName, JsonSerializer.SerializeToElement(data, options ?? JsonSerializerOptions.Web), context, cancellationToken);

    /// <summary>Stores a submission serialized from <paramref name="data"/> with source-generated metadata (trimming and AOT friendly).</summary>
    /// <typeparam name="T">The submission's .NET type.</typeparam>
    /// <param name="submissions">The repository.</param>
    /// <param name="formName">The form name.</param>
    /// <param name="data">The submission, serialized to a JSON object.</param>
    /// <param name="typeInfo">The source-generated type information of <typeparamref name="T"/>.</param>
    /// <param name="context">Correlation and causation ids for the event, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored submission.</returns>
    public static Task<FormSubmission> CreateAsync<T>(this IFormSubmissionRepository submissions, string formName, T data, JsonTypeInfo<T> typeInfo, EventContext? context = null, CancellationToken cancellationToken = default) =>
        submissions.CreateAsync(formName, JsonSerializer.SerializeToElement(data, typeInfo), context, cancellationToken);
}
