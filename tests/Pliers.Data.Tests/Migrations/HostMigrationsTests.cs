using FluentMigrator;
using FluentMigrator.Runner;
using Microsoft.Extensions.DependencyInjection;
using Pliers.Data.Migrations;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Migrations;

/// <summary>A host's own FluentMigrator migrations, as an application that adopts Pliers.Data would have them.</summary>
[Migration(1, "host: orders")]
public sealed class HostCreateOrders : Migration
{
    public override void Up() => Create.Table("orders").InSchema("public").WithColumn("id").AsInt32().PrimaryKey();

    public override void Down() => Delete.Table("orders").InSchema("public");
}

[Migration(2, "host: order notes")]
public sealed class HostAddOrderNotes : Migration
{
    public override void Up() => Alter.Table("orders").InSchema("public").AddColumn("notes").AsString(200).Nullable();

    public override void Down() => Delete.Column("notes").FromTable("orders").InSchema("public");
}

public sealed class HostMigrationsTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_host_with_its_own_fluentmigrator_migrations_keeps_working()
    {
        var database = await postgres.Server.CreateDatabaseAsync("host_" + Guid.NewGuid().ToString("N")[..12], Ct);

        // One container holding both the host's FluentMigrator setup and Pliers, as a real host would.
        await using var services = new ServiceCollection()
            .AddFluentMigratorCore()
            .ConfigureRunner(r => r.AddPostgres().WithGlobalConnectionString(database).ScanIn(typeof(HostCreateOrders).Assembly).For.Migrations())
            .AddPliersData(o => o.ConnectionString = database)
            .BuildServiceProvider();

        void HostMigrateUp()
        {
            using var scope = services.CreateScope();
            scope.ServiceProvider.GetRequiredService<IMigrationRunner>().MigrateUp();
        }

        HostMigrateUp();
        var pliers = await services.MigratePliersDatabaseAsync(Ct);
        Assert.Equal(PliersMigrations.Versions, pliers.Applied);
        HostMigrateUp(); // nothing pending for the host, and Pliers' versions do not confuse it

        await using var connection = new Npgsql.NpgsqlConnection(database);
        await connection.OpenAsync(Ct);
        async Task<List<long>> VersionsAsync(string table)
        {
            await using var command = new Npgsql.NpgsqlCommand($"select * from {table}", connection);
            await using var reader = await command.ExecuteReaderAsync(Ct);
            var versions = new List<long>();
            while (await reader.ReadAsync(Ct))
            {
                versions.Add(reader.GetInt64(0));
            }

            versions.Sort();
            return versions;
        }

        Assert.Equal([1L, 2L], await VersionsAsync("public.\"VersionInfo\""));
        Assert.Equal(PliersMigrations.Versions, await VersionsAsync("pliers.version_info"));

        // Rolling Pliers back to zero leaves the host's tables and history alone, and the host can roll back its own.
        await services.RollbackPliersDatabaseAsync(0, Ct);
        Assert.Equal([1L, 2L], await VersionsAsync("public.\"VersionInfo\""));
        await using (var insert = new Npgsql.NpgsqlCommand("insert into public.orders (id, notes) values (1, 'still here')", connection))
        {
            await insert.ExecuteNonQueryAsync(Ct);
        }

        using (var scope = services.CreateScope())
        {
            scope.ServiceProvider.GetRequiredService<IMigrationRunner>().MigrateDown(1);
        }

        Assert.Equal([1L], await VersionsAsync("public.\"VersionInfo\""));
    }
}
