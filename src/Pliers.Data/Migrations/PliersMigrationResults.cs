namespace Pliers.Data;

/// <summary>One Pliers migration and whether it is applied.</summary>
/// <param name="Version">The migration version (<c>yyyyMMddHHmm</c>).</param>
/// <param name="Description">What the migration creates.</param>
/// <param name="AppliedOn">When it was applied, or <see langword="null"/> while it is pending.</param>
public sealed record PliersMigrationInfo(long Version, string Description, DateTimeOffset? AppliedOn)
{
    /// <summary>Gets a value indicating whether the migration is applied.</summary>
    public bool IsApplied => AppliedOn is not null;
}

/// <summary>The state of the Pliers migrations in a database.</summary>
/// <param name="Schema">The schema that was inspected.</param>
/// <param name="Migrations">Every known migration in version order, applied or pending.</param>
/// <param name="UnknownAppliedVersions">Versions recorded in the database that this library does not know (applied by a newer release).</param>
public sealed record PliersMigrationStatus(string Schema, IReadOnlyList<PliersMigrationInfo> Migrations, IReadOnlyList<long> UnknownAppliedVersions)
{
    /// <summary>Gets the highest applied version, or 0 when nothing is applied.</summary>
    public long CurrentVersion => Migrations.Where(m => m.IsApplied).Select(m => m.Version).DefaultIfEmpty(0).Max();

    /// <summary>Gets the migrations that are not applied yet.</summary>
    public IReadOnlyList<PliersMigrationInfo> Pending => Migrations.Where(m => !m.IsApplied).ToArray();
}

/// <summary>What a migrate or rollback call did.</summary>
/// <param name="Schema">The schema that was migrated.</param>
/// <param name="FromVersion">The version before the call.</param>
/// <param name="ToVersion">The version after the call.</param>
/// <param name="Applied">The versions applied (migrate) or reverted (rollback) by this call, in the order they ran.</param>
/// <param name="Elapsed">How long the call took, including the wait for the migration lock.</param>
public sealed record PliersMigrationResult(string Schema, long FromVersion, long ToVersion, IReadOnlyList<long> Applied, TimeSpan Elapsed);

/// <summary>One difference between the live schema and what the applied migrations declare.</summary>
/// <param name="Kind">The kind of object: table, column, constraint, index, function, trigger or sequence.</param>
/// <param name="Name">The object's name, qualified by its table where that applies.</param>
/// <param name="Change"><c>missing</c> (declared, not found), <c>unexpected</c> (found, not declared) or <c>changed</c>.</param>
/// <param name="Expected">The declared definition, or <see langword="null"/> when the object is unexpected.</param>
/// <param name="Actual">The live definition, or <see langword="null"/> when the object is missing.</param>
public sealed record PliersSchemaDifference(string Kind, string Name, string Change, string? Expected, string? Actual)
{
    /// <inheritdoc />
    public override string ToString() => Change switch
    {
        "missing" => $"missing {Kind} {Name}: {Expected}",
        "unexpected" => $"unexpected {Kind} {Name}: {Actual}",
        _ => $"changed {Kind} {Name}: expected {Expected}, found {Actual}",
    };
}

/// <summary>The result of comparing the live schema with the applied migrations.</summary>
/// <param name="Schema">The schema that was checked.</param>
/// <param name="Version">The applied version the comparison was made against.</param>
/// <param name="Differences">Every difference found; empty when the schema matches.</param>
public sealed record PliersSchemaVerification(string Schema, long Version, IReadOnlyList<PliersSchemaDifference> Differences)
{
    /// <summary>Gets a value indicating whether the live schema matches the migrations exactly.</summary>
    public bool IsMatch => Differences.Count == 0;
}
