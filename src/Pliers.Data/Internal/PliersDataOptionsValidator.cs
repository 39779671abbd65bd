using Microsoft.Extensions.Options;

namespace Pliers.Data.Internal;

/// <summary>Checks the options once at start-up so a bad schema name never reaches SQL.</summary>
internal sealed class PliersDataOptionsValidator : IValidateOptions<PliersDataOptions>
{
    public ValidateOptionsResult Validate(string? name, PliersDataOptions options)
    {
        var failures = new List<string>();
        if (SchemaName.Validate(options.Schema) is { } schemaError)
        {
            failures.Add("PliersDataOptions.Schema: " + schemaError);
        }

        if (options.MigrationLockTimeout <= TimeSpan.Zero)
        {
            failures.Add("PliersDataOptions.MigrationLockTimeout must be positive.");
        }

        if (options.MaxDocumentBytes <= 0)
        {
            failures.Add("PliersDataOptions.MaxDocumentBytes must be positive.");
        }

        if (options.MaxDocumentDepth is < 1 or > 10000)
        {
            failures.Add("PliersDataOptions.MaxDocumentDepth must be between 1 and 10000.");
        }

        if (options.SubscriptionStuckAfter <= TimeSpan.Zero)
        {
            failures.Add("PliersDataOptions.SubscriptionStuckAfter must be positive.");
        }

        if (options.DefinitionCacheSize < 0)
        {
            failures.Add("PliersDataOptions.DefinitionCacheSize must be 0 (off) or positive.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
