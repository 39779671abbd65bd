using System.Text.Json;
using Npgsql;

namespace Pliers.Data.Internal;

/// <summary>Turns database errors the library can name into Pliers exceptions, by SQLSTATE and constraint name only.</summary>
internal static class PostgresErrors
{
    public const string SubmissionSchemaConstraint = "form_submissions_data_schema";

    private static PliersValidationException SchemaValidation(PostgresException exception)
    {
        var errors = SchemaErrors(exception);
        return new PliersValidationException(PliersValidationException.Describe("The submission data does not match the form's JSON Schema", errors), errors, exception);
    }

    /// <summary>A lost or refused connection, or a server shutting down or out of resources: worth trying again for.</summary>
    public static bool IsTransient(Exception e) => e switch
    {
        PostgresException p => p.SqlState.StartsWith("08", StringComparison.Ordinal) || p.SqlState.StartsWith("57P", StringComparison.Ordinal) || p.SqlState.StartsWith("53", StringComparison.Ordinal),
        NpgsqlException n => n.IsTransient || n.InnerException is IOException or System.Net.Sockets.SocketException or TimeoutException,
        _ => false,
    };

    /// <summary>Returns the Pliers exception for <paramref name="exception"/>, or null when it is not one the library names.</summary>
    public static PliersDataException? Translate(PostgresException exception) => exception switch
    {
        { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "form_definitions_name_version_key" } =>
            new PliersConflictException("A form with this name and version already exists.", exception.ConstraintName, exception),
        { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "form_definitions_one_active_per_name" } =>
            new PliersConflictException("Another version of this form was published at the same time.", exception.ConstraintName, exception),
        { SqlState: PostgresErrorCodes.RestrictViolation, ConstraintName: { } rule } when rule.StartsWith("form_definitions_", StringComparison.Ordinal) =>
            new PliersConflictException("The form definition cannot change this way: " + rule.Replace('_', ' '), rule, exception),
        { SqlState: PostgresErrorCodes.CheckViolation, ConstraintName: SubmissionSchemaConstraint } =>
            SchemaValidation(exception),
        { SqlState: PostgresErrorCodes.QueryCanceled } =>
            new PliersTimeoutException("PostgreSQL cancelled the statement after statement_timeout; nothing was written.", "statement_timeout", exception),
        { SqlState: PostgresErrorCodes.LockNotAvailable } =>
            new PliersTimeoutException("PostgreSQL gave up waiting for a lock after lock_timeout; nothing was written.", "lock_timeout", exception),
        // Every value Pliers sends is a typed parameter, so invalid text can only come from a jsonb cast: JSON that
        // .NET accepts but jsonb does not (an unpaired surrogate escape such as \ud800).
        { SqlState: PostgresErrorCodes.InvalidTextRepresentation } =>
            new PliersValidationException(
                "The data contains text PostgreSQL's jsonb cannot store (an unpaired Unicode surrogate escape).",
                [new PliersValidationError(string.Empty, "jsonb", "unpaired surrogate escapes are not allowed in jsonb text")],
                exception),
        { SqlState: PostgresErrorCodes.UntranslatableCharacter } =>
            new PliersValidationException(
                "The data contains a character PostgreSQL's jsonb cannot store (\\u0000).",
                [new PliersValidationError(string.Empty, "jsonb", "\\u0000 is not allowed in jsonb text")],
                exception),
        _ => null,
    };

    /// <summary>
    /// The triggers put every error (up to 1000) as a JSON array in DETAIL and again in HINT: Npgsql redacts DETAIL
    /// unless the connection string sets Include Error Detail, and never HINT, so the list is read from whichever
    /// holds it. Without either (a server that is older than the library's migrations) the message's one error is
    /// what is known.
    /// </summary>
    private static IReadOnlyList<PliersValidationError> SchemaErrors(PostgresException exception)
    {
        foreach (var text in new[] { exception.Detail, exception.Hint })
        {
            if (text is not { Length: > 0 } || !text.TrimStart().StartsWith('['))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(text);
                var errors = document.RootElement.EnumerateArray()
                    .Select(e => new PliersValidationError(
                        e.GetProperty("path").GetString() ?? string.Empty,
                        e.GetProperty("keyword").GetString() ?? string.Empty,
                        e.GetProperty("message").GetString() ?? string.Empty)
                    {
                        Detail = e.TryGetProperty("detail", out var detail) ? detail.Clone() : null,
                    })
                    .ToArray();
                if (errors.Length > 0)
                {
                    return errors;
                }
            }
            catch (JsonException)
            {
                // fall through to the next field, then to the summary error
            }
        }

        // Neither field holds the list (a server whose triggers predate it): the rule, named by the constraint.
        return [new PliersValidationError(string.Empty, "schema", $"the data does not match the form's schema (constraint {exception.ConstraintName})")];
    }
}
