using Pliers.Data.Cli;
using Pliers.Data.Migrations;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Cli;

public sealed class CliTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<(int ExitCode, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await CliApp.RunAsync(args, output, error, Ct);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Migrate_status_verify_and_rollback_to_zero()
    {
        var schema = PostgresFixture.NewSchemaName("cli");
        try
        {
            var migrate = await RunAsync("migrate", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, migrate.ExitCode);
            Assert.Contains($"applied {string.Join(", ", PliersMigrations.Versions)}", migrate.Output, StringComparison.Ordinal);

            var again = await RunAsync("migrate", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, again.ExitCode);
            Assert.Contains("up to date", again.Output, StringComparison.Ordinal);

            var status = await RunAsync("status", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, status.ExitCode);
            Assert.Contains($"{PliersMigrations.Versions.Count} applied, 0 pending", status.Output, StringComparison.Ordinal);

            var verify = await RunAsync("verify", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, verify.ExitCode);
            Assert.Contains("matches", verify.Output, StringComparison.Ordinal);

            var partial = await RunAsync("rollback", "--to", PliersMigrations.Versions[0].ToString(System.Globalization.CultureInfo.InvariantCulture), "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, partial.ExitCode);
            var pending = await RunAsync("status", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Contains($"1 applied, {PliersMigrations.Versions.Count - 1} pending", pending.Output, StringComparison.Ordinal);
            Assert.Contains("pending", pending.Output, StringComparison.Ordinal);

            var zero = await RunAsync("rollback", "--to", "0", "--connection", postgres.ConnectionString, "--schema", schema);
            Assert.Equal(0, zero.ExitCode);
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_namespace where nspname = '{schema}'"));
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }

    [Fact]
    public async Task Verify_exits_1_and_lists_the_drift()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        await postgres.ExecuteAsync($"drop index \"{host.Schema}\".form_submissions_created_idx; alter table \"{host.Schema}\".events alter column aggregate_type type varchar(100)");

        var verify = await RunAsync("verify", "--connection", postgres.ConnectionString, "--schema", host.Schema);

        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("drifted", verify.Error, StringComparison.Ordinal);
        Assert.Contains("missing index form_submissions_created_idx", verify.Output, StringComparison.Ordinal);
        Assert.Contains("changed column events.aggregate_type", verify.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_connection_comes_from_PLIERS_CONNECTION_when_not_given()
    {
        // The CLI reads the variable only when --connection is absent; run it as a child process so the
        // test never changes this process's environment.
        // Run the tool from its own build output: the test folder shares ASP.NET Core's framework (for the web
        // sample), so the Microsoft.Extensions assemblies the tool carries are not copied beside the tests.
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        var repository = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(repository.FullName, "Pliers.Data.sln")))
        {
            repository = repository.Parent!;
        }

        var cli = Path.Combine(repository.FullName, "src", "Pliers.Data.Cli", "bin", configuration, "net10.0", "pliers-data.dll");

        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [cli, "status", "--schema", "pliers_env_probe"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["PLIERS_CONNECTION"] = postgres.ConnectionString;
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = await process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        Assert.Equal(0, process.ExitCode);
        Assert.Contains("schema 'pliers_env_probe' at version 0", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("explode")]
    [InlineData("migrate --bogus x")]
    [InlineData("migrate --connection")]
    [InlineData("rollback --connection Host=127.0.0.1")]
    [InlineData("rollback --to yesterday --connection Host=127.0.0.1")]
    [InlineData("status --to 1 --connection Host=127.0.0.1")]
    [InlineData("migrate --connection Host=127.0.0.1 --schema Bad-Schema")]
    [InlineData("migrate --connection Nonsense=1")]
    public async Task Bad_usage_exits_2_with_a_reason(string commandLine)
    {
        var result = await RunAsync(commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, result.ExitCode);
        Assert.True(result.Error.StartsWith("pliers-data: ", StringComparison.Ordinal) || result.Error.StartsWith("usage: ", StringComparison.Ordinal), result.Error);
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rollback_to_an_unknown_version_is_bad_usage()
    {
        await using var host = await PliersHost.MigratedAsync(postgres);
        var result = await RunAsync("rollback", "--to", "42", "--connection", postgres.ConnectionString, "--schema", host.Schema);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("Unknown Pliers migration version 42", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_server_exits_1_with_one_line_and_no_stack_trace()
    {
        var result = await RunAsync("migrate", "--connection", "Host=127.0.0.1;Port=1;Username=x;Password=secret-pw;Timeout=3");
        Assert.Equal(1, result.ExitCode);
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("pliers-data: cannot reach PostgreSQL", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("secret-pw", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_exits_1_with_the_server_reason()
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Password = "wrong-pw" };
        var result = await RunAsync("status", "--connection", builder.ConnectionString);
        Assert.Equal(1, result.ExitCode);
        var lines = result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("pliers-data: PostgreSQL refused: 28P01", lines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("wrong-pw", result.Error, StringComparison.Ordinal);
    }
}

public sealed class SeedTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Seed_fills_a_schema_with_valid_deterministic_data()
    {
        var first = PostgresFixture.NewSchemaName("seed");
        var second = PostgresFixture.NewSchemaName("seed");
        try
        {
            foreach (var schema in new[] { first, second })
            {
                using var output = new StringWriter();
                using var error = new StringWriter();
                Assert.Equal(0, await CliApp.RunAsync(["migrate", "--connection", postgres.ConnectionString, "--schema", schema], output, error, Ct));
                Assert.True(0 == await CliApp.RunAsync(["seed", "--forms", "20", "--submissions", "3000", "--events", "500", "--connection", postgres.ConnectionString, "--schema", schema], output, error, Ct), error.ToString());
                Assert.Contains("seeded 20 forms, 3000 submissions and 500 events", output.ToString(), StringComparison.Ordinal);
            }

            Assert.Equal(3000L, await postgres.ScalarAsync<long>($"select count(*) from \"{first}\".form_submissions"));
            Assert.Equal(500L, await postgres.ScalarAsync<long>($"select count(*) from \"{first}\".events"));
            Assert.Equal(20L, await postgres.ScalarAsync<long>($"select count(*) from \"{first}\".form_definitions where status = 'active'"));

            // Every seeded row passes the form's schema (the trigger checked them); the same seed gives the same data.
            Assert.Equal(
                await postgres.ScalarAsync<string>($"select md5(string_agg(data::text, ',' order by created_at)) from \"{first}\".form_submissions"),
                await postgres.ScalarAsync<string>($"select md5(string_agg(data::text, ',' order by created_at)) from \"{second}\".form_submissions"));

            using var usage = new StringWriter();
            Assert.Equal(2, await CliApp.RunAsync(["seed", "--forms", "-3", "--connection", postgres.ConnectionString], TextWriter.Null, usage, Ct));

            // A second seed on a schema that holds data adds to it: the numbering continues, nothing collides.
            using (var again = new StringWriter())
            using (var againError = new StringWriter())
            {
                Assert.True(0 == await CliApp.RunAsync(["seed", "--forms", "5", "--submissions", "100", "--events", "20", "--connection", postgres.ConnectionString, "--schema", first], again, againError, Ct), againError.ToString());
            }

            Assert.Equal(25L, await postgres.ScalarAsync<long>($"select count(*) from \"{first}\".form_definitions where status = 'active'"));
            Assert.Equal(3100L, await postgres.ScalarAsync<long>($"select count(*) from \"{first}\".form_submissions"));
            Assert.Equal("seed-form-000025", await postgres.ScalarAsync<string>($"select max(name) from \"{first}\".form_definitions"));

            // Version history: 25 archived versions over the first forms, ten per form; one active version per name,
            // and submissions of the active versions (the trigger validated each against its version).
            using (var versioned = new StringWriter())
            using (var versionedError = new StringWriter())
            {
                Assert.True(0 == await CliApp.RunAsync(["seed", "--forms", "5", "--versions", "25", "--submissions", "50", "--events", "0", "--connection", postgres.ConnectionString, "--schema", second], versioned, versionedError, Ct), versionedError.ToString());
                Assert.Contains("with 25 archived earlier versions", versioned.ToString(), StringComparison.Ordinal);
            }

            Assert.Equal(25L, await postgres.ScalarAsync<long>($"select count(*) from \"{second}\".form_definitions where status = 'archived'"));
            Assert.Equal(11, await postgres.ScalarAsync<int>($"select max(version) from \"{second}\".form_definitions"));
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from (select name from \"{second}\".form_definitions where status = 'active' group by name having count(*) <> 1) twice"));
            Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from \"{second}\".form_submissions s join \"{second}\".form_definitions d on d.id = s.form_definition_id where d.status <> 'active'"));
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{first}\" cascade; drop schema if exists \"{second}\" cascade");
        }
    }
}

public sealed class RollbackSafetyTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_rollback_that_would_drop_rows_says_how_many_and_needs_force()
    {
        var schema = PostgresFixture.NewSchemaName("rb");
        var cs = postgres.ConnectionString;
        try
        {
            Assert.Equal(0, await CliApp.RunAsync(["migrate", "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));

            // Empty tables: no question asked.
            Assert.Equal(0, await CliApp.RunAsync(["rollback", "--to", PliersMigrations.Versions[1].ToString(System.Globalization.CultureInfo.InvariantCulture), "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));
            Assert.Equal(0, await CliApp.RunAsync(["migrate", "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));
            Assert.Equal(0, await CliApp.RunAsync(["seed", "--forms", "2", "--submissions", "7", "--events", "3", "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));

            // A rollback that keeps every table needs nothing more.
            var keeps = PliersMigrations.Versions[^2].ToString(System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(0, await CliApp.RunAsync(["rollback", "--to", keeps, "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));
            Assert.Equal(0, await CliApp.RunAsync(["migrate", "--connection", cs, "--schema", schema], TextWriter.Null, TextWriter.Null, Ct));

            // One that drops tables with rows is refused, names them with their counts, and changes nothing.
            using (var error = new StringWriter())
            {
                Assert.Equal(1, await CliApp.RunAsync(["rollback", "--to", "0", "--connection", cs, "--schema", schema], TextWriter.Null, error, Ct));
                var message = error.ToString();
                Assert.Contains("form_submissions (7 rows)", message, StringComparison.Ordinal);
                Assert.Contains("form_definitions (2 rows)", message, StringComparison.Ordinal);
                Assert.Contains("--force", message, StringComparison.Ordinal);
            }

            Assert.Equal(7L, await postgres.ScalarAsync<long>($"select count(*) from \"{schema}\".form_submissions"));

            using (var output = new StringWriter())
            {
                Assert.Equal(0, await CliApp.RunAsync(["rollback", "--to", "0", "--force", "--connection", cs, "--schema", schema], output, TextWriter.Null, Ct));
            }

            Assert.Equal(0L, await postgres.ScalarAsync<long>($"select count(*) from pg_namespace where nspname = '{schema}'"));
        }
        finally
        {
            await postgres.ExecuteAsync($"drop schema if exists \"{schema}\" cascade");
        }
    }
}
