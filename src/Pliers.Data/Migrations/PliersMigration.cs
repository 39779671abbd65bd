using System.Reflection;
using FluentMigrator;
using Pliers.Data.Internal;

namespace Pliers.Data.Migrations;

/// <summary>
/// A Pliers migration: its <c>Up()</c> and <c>Down()</c> are lists of SQL statements for the configured schema.
/// Keeping the statements as data lets the drift check build the expected catalog from the very same SQL.
/// </summary>
internal abstract class PliersMigration : Migration
{
    protected PliersMigration(string schema)
    {
        TargetSchema = SchemaName.EnsureValid(schema);
    }

    /// <summary>Gets the unquoted schema name.</summary>
    public string TargetSchema { get; }

    /// <summary>Gets the version from the <see cref="MigrationAttribute"/>.</summary>
    public long Version => GetType().GetCustomAttribute<MigrationAttribute>()!.Version;

    /// <summary>Gets the description from the <see cref="MigrationAttribute"/>.</summary>
    public string Description => GetType().GetCustomAttribute<MigrationAttribute>()!.Description ?? GetType().Name;

    /// <summary>The statements that apply this migration; <paramref name="s"/> is the quoted schema.</summary>
    public abstract IReadOnlyList<string> UpStatements(string s);

    /// <summary>The statements that undo exactly what <see cref="UpStatements"/> did.</summary>
    public abstract IReadOnlyList<string> DownStatements(string s);

    /// <inheritdoc />
    public sealed override void Up()
    {
        foreach (var statement in UpStatements(SchemaName.Quote(TargetSchema)))
        {
            Execute.Sql(statement);
        }
    }

    /// <inheritdoc />
    public sealed override void Down()
    {
        foreach (var statement in DownStatements(SchemaName.Quote(TargetSchema)))
        {
            Execute.Sql(statement);
        }
    }
}

/// <summary>The ordered list of every Pliers migration.</summary>
internal static class PliersMigrations
{
    public static IReadOnlyList<PliersMigration> All(string schema) =>
    [
        new M202611250900FormDefinitions(schema),
        new M202611250910FormSubmissions(schema),
        new M202611250920Events(schema),
        new M202611251000Validation(schema),
        new M202611271000ParallelSafety(schema),
        new M202611271100TextColumnsAndIndexes(schema),
        new M202612041000PatternDialect(schema),
        new M202612041100ValidationShapes(schema),
        new M202612051000FormatsAndErrors(schema),
        new M202612051100Subscriptions(schema),
        new M202612051200SubmissionRevisions(schema),
        new M202612051300SoftDelete(schema),
        new M202612051400Tenants(schema),
    ];

    public static IReadOnlyList<long> Versions { get; } = All(PliersDataOptions.DefaultSchema).Select(m => m.Version).ToArray();
}
