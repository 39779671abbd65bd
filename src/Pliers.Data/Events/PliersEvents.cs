namespace Pliers.Data.Events;

/// <summary>The aggregate types of the streams the library writes itself (reserved: <see cref="IEventStore"/> refuses them).</summary>
public static class PliersAggregateTypes
{
    /// <summary>A form definition version's stream; the aggregate id is the version's id.</summary>
    public const string FormDefinition = "form_definition";

    /// <summary>A submission's stream; the aggregate id is the submission's id.</summary>
    public const string FormSubmission = "form_submission";
}

/// <summary>The event types the library appends with every change of a definition or a submission.</summary>
public static class PliersEventTypes
{
    /// <summary>A draft version was created (<see cref="FormDefinitionChanged"/>).</summary>
    public const string DefinitionCreated = "form.definition.created";

    /// <summary>A draft's definition was replaced (<see cref="FormDefinitionChanged"/>).</summary>
    public const string DefinitionUpdated = "form.definition.updated";

    /// <summary>A draft became the active version (<see cref="FormDefinitionPublished"/>).</summary>
    public const string DefinitionPublished = "form.definition.published";

    /// <summary>A version was archived, by a publish of a newer one or by hand (<see cref="FormDefinitionDeprecated"/>).</summary>
    public const string DefinitionDeprecated = "form.definition.deprecated";

    /// <summary>A submission was stored (<see cref="FormSubmissionCreated"/>).</summary>
    public const string SubmissionCreated = "form.submission.created";

    /// <summary>A submission's data was replaced (<see cref="FormSubmissionUpdated"/>).</summary>
    public const string SubmissionUpdated = "form.submission.updated";

    /// <summary>A submission moved to <c>submitted</c> (<see cref="FormSubmissionStatusChanged"/>).</summary>
    public const string SubmissionSubmitted = "form.submission.submitted";

    /// <summary>A submission moved to <c>approved</c> (<see cref="FormSubmissionStatusChanged"/>).</summary>
    public const string SubmissionApproved = "form.submission.approved";

    /// <summary>A submission moved to <c>rejected</c> (<see cref="FormSubmissionStatusChanged"/>).</summary>
    public const string SubmissionRejected = "form.submission.rejected";

    /// <summary>A submission moved to <c>archived</c> (<see cref="FormSubmissionStatusChanged"/>).</summary>
    public const string SubmissionArchived = "form.submission.archived";

    /// <summary>A submission was soft-deleted (hidden from reads).</summary>
    public const string SubmissionDeleted = "form.submission.deleted";

    /// <summary>A soft-deleted submission was restored.</summary>
    public const string SubmissionRestored = "form.submission.restored";

    /// <summary>A soft-deleted submission and its revisions were removed for good (the event carries no submission data).</summary>
    public const string SubmissionPurged = "form.submission.purged";

    /// <summary>A draft definition was deleted.</summary>
    public const string DefinitionDeleted = "form.definition.deleted";
}

/// <summary>The data of <see cref="PliersEventTypes.DefinitionCreated"/> and <see cref="PliersEventTypes.DefinitionUpdated"/>.</summary>
/// <param name="Name">The form name.</param>
/// <param name="Version">The version.</param>
public sealed record FormDefinitionChanged(string Name, int Version);

/// <summary>The data of <see cref="PliersEventTypes.DefinitionPublished"/>.</summary>
/// <param name="Name">The form name.</param>
/// <param name="Version">The version now active.</param>
/// <param name="Previous">The version it replaced, or <see langword="null"/> for the form's first publish.</param>
public sealed record FormDefinitionPublished(string Name, int Version, int? Previous);

/// <summary>The data of <see cref="PliersEventTypes.DefinitionDeprecated"/>.</summary>
/// <param name="Name">The form name.</param>
/// <param name="Version">The archived version.</param>
/// <param name="SupersededBy">The version whose publish archived it, or <see langword="null"/> when archived by hand.</param>
public sealed record FormDefinitionDeprecated(string Name, int Version, int? SupersededBy);

/// <summary>The data of <see cref="PliersEventTypes.SubmissionCreated"/>.</summary>
/// <param name="FormDefinitionId">The id of the definition version the submission belongs to.</param>
/// <param name="FormVersion">That version's number.</param>
/// <param name="Form">The form name.</param>
/// <param name="Imported">Whether the submission came through a bulk import.</param>
public sealed record FormSubmissionCreated(Guid FormDefinitionId, int FormVersion, string Form, bool Imported);

/// <summary>The data of <see cref="PliersEventTypes.SubmissionUpdated"/>.</summary>
/// <param name="FormDefinitionId">The id of the definition version the submission belongs to.</param>
/// <param name="FormVersion">That version's number.</param>
public sealed record FormSubmissionUpdated(Guid FormDefinitionId, int FormVersion)
{
    /// <summary>Gets the revision the change made (since migration 202612051200; null in older events).</summary>
    public int? Revision { get; init; }
}

/// <summary>The data of the status events (<see cref="PliersEventTypes.SubmissionSubmitted"/> and the others).</summary>
/// <param name="From">The previous status (lower case).</param>
/// <param name="To">The new status (lower case).</param>
public sealed record FormSubmissionStatusChanged(string From, string To);
