using System.Text.Json;

namespace Pliers.Data.Forms;

/// <summary>The lifecycle state of a form definition version.</summary>
public enum FormDefinitionStatus
{
    /// <summary>Being written; the only state that can be edited.</summary>
    Draft,

    /// <summary>The published version that new submissions use; at most one per name.</summary>
    Active,

    /// <summary>No longer used for new submissions; immutable.</summary>
    Archived,
}

/// <summary>One version of a form definition.</summary>
/// <param name="Id">The version's id.</param>
/// <param name="Name">The form name, shared by all its versions.</param>
/// <param name="Version">The version number, from 1.</param>
/// <param name="Status">The lifecycle state.</param>
/// <param name="Definition">The definition document; its <c>schema</c> member is the JSON Schema for submission data.</param>
/// <param name="CreatedAt">When the version was created.</param>
/// <param name="UpdatedAt">When it last changed.</param>
/// <param name="RowVersion">The concurrency token to pass back when editing.</param>
public sealed record FormDefinition(
    Guid Id,
    string Name,
    int Version,
    FormDefinitionStatus Status,
    JsonElement Definition,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    uint RowVersion);

/// <summary>Which definitions a list returns.</summary>
public sealed record FormDefinitionQuery
{
    /// <summary>Gets the status to keep, or <see langword="null"/> for all.</summary>
    public FormDefinitionStatus? Status { get; init; }

    /// <summary>Gets the name prefix to keep, or <see langword="null"/> for all.</summary>
    public string? NamePrefix { get; init; }

    /// <summary>Gets the page size (1 to 500). The default is 50.</summary>
    public int PageSize { get; init; } = 50;

    /// <summary>Gets the cursor returned with the previous page, or <see langword="null"/> for the first page.</summary>
    public string? Cursor { get; init; }
}

/// <summary>Versioned form definitions: create, version, edit drafts, publish, archive and read.</summary>
public interface IFormDefinitionRepository
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
    IFormDefinitionRepository ForTenant(string tenantId);

    /// <summary>Creates a new form as draft version 1 and appends <c>form.definition.created</c>.</summary>
    /// <param name="name">The form name: non-blank, at most 100 characters; surrounding whitespace is trimmed.</param>
    /// <param name="definition">The definition document, a JSON object whose <c>schema</c> is a JSON Schema (draft 2020-12).</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The new draft.</returns>
    /// <exception cref="PliersValidationException">The name or the definition is invalid.</exception>
    /// <exception cref="PliersConflictException">A form with this name exists.</exception>
    Task<FormDefinition> CreateAsync(string name, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Creates the next version of a form as a draft, from a new document or a copy of the latest version.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="definition">The new document, or <see langword="null"/> to copy the latest version's.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The new draft.</returns>
    /// <exception cref="PliersNotFoundException">No form has this name.</exception>
    /// <exception cref="PliersConflictException">Another writer created that version first.</exception>
    Task<FormDefinition> CreateVersionAsync(string name, JsonElement? definition = null, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Replaces a draft's document, if nobody changed it since <paramref name="rowVersion"/> was read.</summary>
    /// <param name="id">The draft's id.</param>
    /// <param name="rowVersion">The <see cref="FormDefinition.RowVersion"/> that was read.</param>
    /// <param name="definition">The new document.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated draft.</returns>
    /// <exception cref="PliersConcurrencyException">The draft changed since it was read.</exception>
    /// <exception cref="PliersConflictException">The version is not a draft.</exception>
    Task<FormDefinition> UpdateDraftAsync(Guid id, uint rowVersion, JsonElement definition, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Publishes a draft: it becomes the active version and the previously active one is archived, atomically.</summary>
    /// <param name="id">The draft's id.</param>
    /// <param name="context">Correlation and causation ids for the events.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The published version.</returns>
    /// <exception cref="PliersConflictException">The version is not a draft.</exception>
    Task<FormDefinition> PublishAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Archives a draft or the active version.</summary>
    /// <param name="id">The version's id.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The archived version.</returns>
    /// <exception cref="PliersConflictException">The version is already archived.</exception>
    Task<FormDefinition> ArchiveAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>Deletes a draft version for good and appends <c>form.definition.deleted</c> in the same transaction; active and archived versions cannot be deleted.</summary>
    /// <param name="id">The draft's id.</param>
    /// <param name="context">Correlation and causation ids for the event.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The deleted draft as it was.</returns>
    /// <exception cref="PliersNotFoundException">The version does not exist.</exception>
    /// <exception cref="PliersConflictException">The version is active or archived (rule <c>form_definitions_immutable</c>).</exception>
    Task<FormDefinition> DeleteDraftAsync(Guid id, EventContext? context = null, CancellationToken cancellationToken = default);

    /// <summary>
    /// Check before publish: the stored (live) submissions of the form's active version that would not validate
    /// against the draft's schema, newest first, a page at a time, each with every error. Runs in the database over
    /// all rows, with the draft's compiled schema.
    /// </summary>
    /// <param name="draftId">The draft's id.</param>
    /// <param name="cursor">The cursor of the previous page, or <see langword="null"/> for the first.</param>
    /// <param name="pageSize">Submissions per page (1–500).</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The failing submissions; an empty page when every one validates (or no version is active).</returns>
    /// <exception cref="PliersNotFoundException">No draft has this id.</exception>
    Task<Page<DraftCheckFailure>> CheckDraftAsync(Guid draftId, string? cursor = null, int pageSize = 50, CancellationToken cancellationToken = default);

    /// <summary>Gets a version by id, or <see langword="null"/>.</summary>
    /// <param name="id">The version's id.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The version, or <see langword="null"/>.</returns>
    Task<FormDefinition?> GetByIdAsync(Guid id, CancellationToken cancellationToken = default);

    /// <summary>Gets a version by name and number, or <see langword="null"/>.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="version">The version number.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The version, or <see langword="null"/>.</returns>
    Task<FormDefinition?> GetAsync(string name, int version, CancellationToken cancellationToken = default);

    /// <summary>Gets the active version of a form, or <see langword="null"/>.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The active version, or <see langword="null"/>.</returns>
    Task<FormDefinition?> GetActiveAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Gets every version of a form, oldest first.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>The versions.</returns>
    Task<IReadOnlyList<FormDefinition>> GetVersionsAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Lists versions by name and number with keyset pagination.</summary>
    /// <param name="query">Filters, page size and cursor.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    /// <returns>One page and the cursor of the next.</returns>
    Task<Page<FormDefinition>> ListAsync(FormDefinitionQuery query, CancellationToken cancellationToken = default);

    /// <summary>Creates version 1 of a new form as a draft, with no event context.</summary>
    /// <param name="name">The form name (trimmed; 1 to 100 characters).</param>
    /// <param name="definition">The definition document: a JSON object whose <c>schema</c> member is the submission JSON Schema.</param>
    /// <param name="cancellationToken">Cancels the write; nothing is stored unless it completes.</param>
    /// <returns>The stored draft.</returns>
    Task<FormDefinition> CreateAsync(string name, JsonElement definition, CancellationToken cancellationToken) =>
        CreateAsync(name, definition, null, cancellationToken);

    /// <summary>Creates the next version of a form as a draft, copying the latest version's definition, with no event context.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored draft.</returns>
    Task<FormDefinition> CreateVersionAsync(string name, CancellationToken cancellationToken) =>
        CreateVersionAsync(name, null, null, cancellationToken);

    /// <summary>Creates the next version of a form as a draft with a new definition, with no event context.</summary>
    /// <param name="name">The form name.</param>
    /// <param name="definition">The new version's definition document.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The stored draft.</returns>
    Task<FormDefinition> CreateVersionAsync(string name, JsonElement definition, CancellationToken cancellationToken) =>
        CreateVersionAsync(name, definition, null, cancellationToken);

    /// <summary>Replaces a draft's definition, with no event context.</summary>
    /// <param name="id">The draft's id.</param>
    /// <param name="rowVersion">The <see cref="FormDefinition.RowVersion"/> the caller read.</param>
    /// <param name="definition">The new definition document.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The updated draft.</returns>
    Task<FormDefinition> UpdateDraftAsync(Guid id, uint rowVersion, JsonElement definition, CancellationToken cancellationToken) =>
        UpdateDraftAsync(id, rowVersion, definition, null, cancellationToken);

    /// <summary>Publishes a draft (archiving the active version), with no event context.</summary>
    /// <param name="id">The draft's id.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The now active version.</returns>
    Task<FormDefinition> PublishAsync(Guid id, CancellationToken cancellationToken) =>
        PublishAsync(id, null, cancellationToken);

    /// <summary>Archives a version, with no event context.</summary>
    /// <param name="id">The version's id.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <returns>The archived version.</returns>
    Task<FormDefinition> ArchiveAsync(Guid id, CancellationToken cancellationToken) =>
        ArchiveAsync(id, null, cancellationToken);
}

/// <summary>A stored submission that a draft's schema would refuse, with the errors.</summary>
/// <param name="SubmissionId">The submission.</param>
/// <param name="Errors">Every error, as validation reports them (JSON pointer, keyword, message, detail).</param>
public sealed record DraftCheckFailure(Guid SubmissionId, IReadOnlyList<PliersValidationError> Errors);
