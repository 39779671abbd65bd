// Pliers.Data quickstart: connect, migrate, show what is there.
// Uses $PLIERS_CONNECTION when set; otherwise starts a throwaway local PostgreSQL and removes it at the end.
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Testing;

var connectionString = Environment.GetEnvironmentVariable("PLIERS_CONNECTION");
await using var throwaway = string.IsNullOrWhiteSpace(connectionString)
    ? await TestPostgres.StartAsync(new TestPostgresOptions { Log = Console.Out, ConnectionStringVariable = "PLIERS_CONNECTION" })
    : null;
connectionString ??= throwaway!.ConnectionString;

var services = new ServiceCollection()
    .AddPliersData(options =>
    {
        options.ConnectionString = connectionString;
        options.Schema = "pliers";
    })
    .BuildServiceProvider();
await using (services)
{
    var migration = await services.MigratePliersDatabaseAsync();
    Console.WriteLine(migration.Applied.Count == 0
        ? $"Schema '{migration.Schema}' was already at version {migration.ToVersion}."
        : $"Migrated schema '{migration.Schema}' from version {migration.FromVersion} to {migration.ToVersion} in {migration.Elapsed.TotalMilliseconds:F0} ms: applied {string.Join(", ", migration.Applied)}.");

    var status = await services.GetPliersMigrationStatusAsync();
    foreach (var m in status.Migrations)
    {
        Console.WriteLine($"  {m.Version}  {(m.IsApplied ? "applied" : "pending")}  {m.Description}");
    }

    var verification = await services.VerifyPliersDatabaseAsync();
    Console.WriteLine(verification.IsMatch
        ? "The live schema matches the migrations exactly."
        : $"The live schema differs from the migrations:\n  {string.Join("\n  ", verification.Differences)}");
    return verification.IsMatch ? 0 : 1;
}
