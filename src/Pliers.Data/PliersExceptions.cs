namespace Pliers.Data;

/// <summary>The base class of every error that Pliers.Data raises on purpose.</summary>
public class PliersDataException : Exception
{
    /// <summary>Creates the exception with a message.</summary>
    /// <param name="message">What went wrong.</param>
    public PliersDataException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The underlying error.</param>
    public PliersDataException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>One field error: where in the document, which rule, and what is wrong.</summary>
/// <param name="Path">The JSON pointer of the offending value (empty for the whole document).</param>
/// <param name="Keyword">The rule or schema keyword that failed.</param>
/// <param name="Message">A human-readable explanation.</param>
public sealed record PliersValidationError(string Path, string Keyword, string Message)
{
    /// <summary>
    /// Gets the machine-readable detail of a JSON Schema error, the same from the application and the database
    /// layer: a JSON object whose members depend on <see cref="Keyword"/> (<c>limit</c> for minimum, maxLength,
    /// minItems and the other bounds, with <c>found</c> for contains; <c>allowed</c> for enum; <c>expected</c> for
    /// const and type, with <c>found</c>; <c>pattern</c>; <c>format</c>; <c>missing</c> for required, with
    /// <c>when</c> for dependentRequired; <c>property</c>; <c>index</c>; <c>duplicates</c>; <c>matches</c> for
    /// anyOf/oneOf); docs/validation.md lists them. Null for errors that are not a schema keyword's.
    /// </summary>
    public System.Text.Json.JsonElement? Detail { get; init; }
}

/// <summary>Raised when input is invalid; <see cref="Errors"/> names every offending field.</summary>
public sealed class PliersValidationException : PliersDataException
{
    /// <summary>Creates the exception from a list of field errors.</summary>
    /// <param name="message">A summary of the failure.</param>
    /// <param name="errors">The field errors.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PliersValidationException(string message, IReadOnlyList<PliersValidationError> errors, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentNullException.ThrowIfNull(errors);
        Errors = errors;
    }

    /// <summary>Gets the field errors.</summary>
    public IReadOnlyList<PliersValidationError> Errors { get; }

    /// <summary>A message that shows the first <paramref name="shown"/> errors and says how many more there are.</summary>
    internal static string Describe(string lead, IReadOnlyList<PliersValidationError> errors, int shown = 3)
    {
        var listed = string.Join("; ", errors.Take(shown).Select(e => $"{(e.Path.Length == 0 ? "/" : e.Path)} {e.Message}"));
        var more = errors.Count - shown;
        return listed.Length == 0 ? lead + "."
            : more > 0 ? $"{lead}: {listed} (and {more} more error{(more == 1 ? string.Empty : "s")}; see Errors)"
            : $"{lead}: {listed}";
    }
}

/// <summary>Raised when an optimistic-concurrency check fails; nothing was written.</summary>
public sealed class PliersConcurrencyException : PliersDataException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="entityId">The stream or row whose version did not match.</param>
    /// <param name="expectedVersion">The version the caller expected.</param>
    /// <param name="actualVersion">The version found, when known.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PliersConcurrencyException(string message, Guid entityId, long expectedVersion, long? actualVersion, Exception? innerException = null)
        : base(message, innerException)
    {
        EntityId = entityId;
        ExpectedVersion = expectedVersion;
        ActualVersion = actualVersion;
    }

    /// <summary>Gets the id of the stream or row whose version did not match.</summary>
    public Guid EntityId { get; }

    /// <summary>Gets the version the caller expected.</summary>
    public long ExpectedVersion { get; }

    /// <summary>Gets the version found in the database, when it could be read.</summary>
    public long? ActualVersion { get; }
}

/// <summary>Raised when something the caller asked for does not exist.</summary>
public sealed class PliersNotFoundException : PliersDataException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What was not found.</param>
    public PliersNotFoundException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// Raised when a write breaks a rule of the stored data: a duplicate name and version, a second active
/// version, a change to an immutable row, or a forbidden status transition.
/// </summary>
public sealed class PliersConflictException : PliersDataException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Which rule was broken.</param>
    /// <param name="rule">The database constraint or library rule that refused the write.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PliersConflictException(string message, string rule, Exception? innerException = null)
        : base(message, innerException)
    {
        Rule = rule;
    }

    /// <summary>Gets the name of the constraint or rule that refused the write.</summary>
    public string Rule { get; }
}

/// <summary>
/// Raised when PostgreSQL gave up waiting: a <c>statement_timeout</c> or a <c>lock_timeout</c> expired. Nothing of
/// the operation was written; it may be retried.
/// </summary>
public sealed class PliersTimeoutException : PliersDataException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What timed out.</param>
    /// <param name="reason"><c>statement_timeout</c> or <c>lock_timeout</c>.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public PliersTimeoutException(string message, string reason, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
    }

    /// <summary>Gets which server setting expired: <c>statement_timeout</c> or <c>lock_timeout</c>.</summary>
    public string Reason { get; }
}
