using Pliers.Data.Migrations;

namespace Pliers.Data.Tests.Infrastructure;

internal static class Catalog
{
    public static async Task<IReadOnlyList<CatalogObject>> ReadAsync(PostgresFixture postgres, string schema)
    {
        await using var connection = await postgres.OpenAsync();
        await using var transaction = await connection.BeginTransactionAsync(TestContext.Current.CancellationToken);
        return await SchemaSnapshot.ReadAsync(connection, schema, TestContext.Current.CancellationToken);
    }

    public static string Describe(IEnumerable<CatalogObject> objects) =>
        string.Join("\n", objects.Select(o => $"{o.Kind} {o.Name}: {o.Definition}"));
}
