using FluentMigrator;
using FluentMigrator.Runner.Initialization;
using FluentMigrator.Runner.VersionTableInfo;

namespace Pliers.Data.Migrations;

/// <summary>
/// Hands FluentMigrator the Pliers migrations for one schema. Replacing the assembly scan keeps the
/// migration classes internal and lets each instance know its schema without process-wide state.
/// </summary>
internal sealed class PliersMigrationSource(string schema) : IFilteringMigrationSource
{
    public IEnumerable<IMigration> GetMigrations() => PliersMigrations.All(schema);

    public IEnumerable<IMigration> GetMigrations(Func<Type, bool> predicate) =>
        PliersMigrations.All(schema).Where(m => predicate(m.GetType()));
}

/// <summary>The version table <c>&lt;schema&gt;.version_info</c>, apart from any table a host's own migrations use.</summary>
internal sealed class PliersVersionTableMetaData(string schema) : IVersionTableMetaData
{
    public const string Table = "version_info";

    public bool OwnsSchema => false;

    public string SchemaName => schema;

    public string TableName => Table;

    public string ColumnName => "version";

    public string DescriptionColumnName => "description";

    public string UniqueIndexName => "version_info_version_key";

    public string AppliedOnColumnName => "applied_on";

    public bool CreateWithPrimaryKey => false;
}
