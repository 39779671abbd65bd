using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Pliers.Data.Cli;

/// <summary>The <c>pliers-data</c> command line: exit 0 on success, 1 with a one-line reason on failure, 2 on bad usage.</summary>
internal static class CliApp
{
    public const int Success = 0;
    public const int Failure = 1;
    public const int BadUsage = 2;

    private const string Usage = """
        usage: pliers-data <command> [options]

        commands:
          migrate                 apply every pending Pliers migration (under an advisory lock)
          rollback --to <version> [--force]
                                  revert down to <version>; 0 removes every Pliers object. A rollback that would
                                  drop tables holding rows says how many and needs --force
          status                  list applied and pending migrations
          verify                  compare the live schema with the migrations; exit 1 on drift
          grant --role <name>     give an application role exactly what the library needs (no DDL, events append-only)
          seed [--forms N] [--submissions N] [--events N] [--versions N] [--seed N]
                                  fill a schema with deterministic, realistic data (binary COPY); --versions N
                                  gives the first forms N archived earlier versions, ten per form; a schema that
                                  holds data already gets more (the numbering continues)
          migrate --multi-tenant  also switch row-level security on for the tenant tables (PliersDataOptions.MultiTenant)
          check-draft --form <name>
                                  list the stored submissions of the active version that the newest draft's schema
                                  would refuse, with their errors; exit 1 when there are any
          export --form <name> --format csv|ndjson [--out <file>]
                                  stream a form's submissions (all its versions) to stdout or a file; progress on
                                  stderr (at most a line a second)
          subscriptions list      durable subscriptions: checkpoints, owners, lag, stop and parked counts
          subscriptions parked <name>
                                  the events <name> parked, with their errors
          subscriptions replay <name> [--id N]
                                  hand parked events (all, or entry N) to the running members again
          subscriptions reset <name> --to start|now|<transaction:position>
                                  move every checkpoint of <name> (running members follow)
          subscriptions resume <name>
                                  clear a stop caused by a poison event

        options:
          --connection <string>   PostgreSQL connection string (default: $PLIERS_CONNECTION)
          --schema <name>         schema holding the Pliers objects (default: pliers)
          --tenant <id>           the tenant export and check-draft work in (default: the default tenant)
          -h, --help              show this help
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? error : output).WriteLine(Usage);
            return args.Length == 0 ? BadUsage : Success;
        }

        var command = args[0];
        if (command is not ("migrate" or "rollback" or "status" or "verify" or "seed" or "grant" or "subscriptions" or "export" or "check-draft"))
        {
            return UsageError(error, $"unknown command '{command}'");
        }

        // subscriptions <verb> [<name>] [options]
        string? verb = null, subscription = null;
        if (command == "subscriptions")
        {
            verb = args.Length > 1 ? args[1] : null;
            if (verb is not ("list" or "parked" or "replay" or "reset" or "resume"))
            {
                return UsageError(error, verb is null ? "subscriptions needs list, parked, replay, reset or resume" : $"unknown subscriptions command '{verb}'");
            }

            var named = verb != "list";
            if (named && (args.Length < 3 || args[2].StartsWith("--", StringComparison.Ordinal)))
            {
                return UsageError(error, $"subscriptions {verb} needs the subscription's name");
            }

            subscription = named ? args[2] : null;
            args = [command, .. args.Skip(named ? 3 : 2)];
        }

        string? connection = null, schema = null, to = null, role = null, id = null, form = null, format = null, outFile = null, tenant = null;
        var force = false;
        var multiTenant = false;
        var counts = new Dictionary<string, int> { ["--forms"] = 100, ["--submissions"] = 10_000, ["--events"] = 10_000, ["--seed"] = 20261125, ["--versions"] = 0 };
        for (var i = 1; i < args.Length; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                output.WriteLine(Usage);
                return Success;
            }

            if (name == "--force" && command == "rollback")
            {
                force = true;
                continue;
            }

            if (name == "--multi-tenant" && command == "migrate")
            {
                multiTenant = true;
                continue;
            }

            var isCount = counts.ContainsKey(name) && command == "seed";
            if ((name is not ("--connection" or "--schema" or "--to" or "--role" or "--id" or "--form" or "--format" or "--out" or "--tenant") && !isCount)
                || (name is "--format" or "--out" && command != "export")
                || (name is "--form" or "--tenant" && command is not ("export" or "check-draft"))
                || (name == "--to" && command != "rollback" && verb != "reset")
                || (name == "--role" && command != "grant")
                || (name == "--id" && verb != "replay"))
            {
                return UsageError(error, $"unknown option '{name}' for '{command}'");
            }

            if (i + 1 >= args.Length)
            {
                return UsageError(error, $"option '{name}' needs a value");
            }

            var value = args[++i];
            if (isCount)
            {
                if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                {
                    return UsageError(error, $"{name} must be a non-negative number, not '{value}'");
                }

                counts[name] = count;
                continue;
            }

            switch (name)
            {
                case "--connection": connection = value; break;
                case "--schema": schema = value; break;
                case "--role": role = value; break;
                case "--id": id = value; break;
                case "--form": form = value; break;
                case "--format": format = value; break;
                case "--out": outFile = value; break;
                case "--tenant": tenant = value; break;
                default: to = value; break;
            }
        }

        connection ??= Environment.GetEnvironmentVariable("PLIERS_CONNECTION");
        if (string.IsNullOrWhiteSpace(connection))
        {
            return UsageError(error, "no connection string: pass --connection or set PLIERS_CONNECTION");
        }

        long toVersion = 0;
        if (command == "rollback" && (to is null || !long.TryParse(to, NumberStyles.None, CultureInfo.InvariantCulture, out toVersion)))
        {
            return UsageError(error, to is null ? "rollback needs --to <version> (0 removes everything)" : $"--to must be a version number, not '{to}'");
        }

        if (command == "check-draft" && string.IsNullOrWhiteSpace(form))
        {
            return UsageError(error, "check-draft needs --form <name>");
        }

        var exportFormat = Pliers.Data.Submissions.SubmissionExportFormat.Csv;
        if (command == "export")
        {
            if (string.IsNullOrWhiteSpace(form))
            {
                return UsageError(error, "export needs --form <name>");
            }

            switch (format)
            {
                case "csv": exportFormat = Pliers.Data.Submissions.SubmissionExportFormat.Csv; break;
                case "ndjson": exportFormat = Pliers.Data.Submissions.SubmissionExportFormat.Ndjson; break;
                default: return UsageError(error, format is null ? "export needs --format csv|ndjson" : $"--format must be csv or ndjson, not '{format}'");
            }
        }

        long? parkedId = null;
        if (id is not null)
        {
            if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                return UsageError(error, $"--id must be a parked entry's number, not '{id}'");
            }

            parkedId = parsed;
        }

        var start = Pliers.Data.Subscriptions.SubscriptionStart.Beginning;
        if (verb == "reset")
        {
            try
            {
                start = Pliers.Data.Subscriptions.SubscriptionStart.Parse(to ?? throw new FormatException("subscriptions reset needs --to start|now|<transaction:position>"));
            }
            catch (FormatException e)
            {
                return UsageError(error, e.Message);
            }
        }

        if (command == "grant" && (role is null || !System.Text.RegularExpressions.Regex.IsMatch(role, "^[a-z_][a-z0-9_$]{0,62}$")))
        {
            return UsageError(error, role is null ? "grant needs --role <name>" : $"--role must be a plain lower-case identifier, not '{role}'");
        }

        try
        {
            _ = new NpgsqlConnectionStringBuilder(connection);
        }
        catch (ArgumentException e)
        {
            return UsageError(error, "the connection string is not valid: " + e.Message);
        }

        var services = new ServiceCollection()
            .AddPliersData(o =>
            {
                o.ConnectionString = connection;
                o.Schema = schema ?? PliersDataOptions.DefaultSchema;
                o.MultiTenant = multiTenant;
            })
            .BuildServiceProvider();
        await using (services.ConfigureAwait(false))
        {
            try
            {
                _ = services.GetRequiredService<IOptions<PliersDataOptions>>().Value;
            }
            catch (OptionsValidationException e)
            {
                return UsageError(error, string.Join(" ", e.Failures));
            }

            try
            {
                return command switch
                {
                    "migrate" => await MigrateAsync(services, output, cancellationToken).ConfigureAwait(false),
                    "rollback" => await RollbackAsync(services, toVersion, force, output, error, cancellationToken).ConfigureAwait(false),
                    "status" => await StatusAsync(services, output, cancellationToken).ConfigureAwait(false),
                    "grant" => await GrantAsync(services, role!, output, cancellationToken).ConfigureAwait(false),
                    "check-draft" => await CheckDraftAsync(InTenant(services.GetRequiredService<Pliers.Data.Forms.IFormDefinitionRepository>(), tenant, (r, t) => r.ForTenant(t)), form!, output, cancellationToken).ConfigureAwait(false),
                    "export" => await ExportAsync(InTenant(services.GetRequiredService<Pliers.Data.Submissions.IFormSubmissionRepository>(), tenant, (r, t) => r.ForTenant(t)), form!, exportFormat, outFile, output, error, cancellationToken).ConfigureAwait(false),
                    "subscriptions" => await SubscriptionsAsync(services.GetRequiredService<Pliers.Data.Subscriptions.ISubscriptionStore>(), verb!, subscription, parkedId, start, output, cancellationToken).ConfigureAwait(false),
                    "seed" => await SeedAsync(services, new Pliers.Data.Seeding.SeedPlan(counts["--forms"], counts["--submissions"], counts["--events"], counts["--seed"], counts["--versions"]), output, cancellationToken).ConfigureAwait(false),
                    _ => await VerifyAsync(services, output, error, cancellationToken).ConfigureAwait(false),
                };
            }
            catch (ArgumentOutOfRangeException e) when (e.ParamName == "toVersion")
            {
                return UsageError(error, FirstLine(e.Message));
            }
            catch (OperationCanceledException)
            {
                error.WriteLine("pliers-data: cancelled");
                return Failure;
            }
            catch (Exception e)
            {
                error.WriteLine("pliers-data: " + Describe(e));
                return Failure;
            }
        }
    }

    private static async Task<int> MigrateAsync(IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        var result = await services.MigratePliersDatabaseAsync(cancellationToken).ConfigureAwait(false);
        output.WriteLine(result.Applied.Count == 0
            ? $"schema '{result.Schema}' is up to date at version {result.ToVersion}"
            : $"schema '{result.Schema}': applied {string.Join(", ", result.Applied)}; now at version {result.ToVersion} ({result.Elapsed.TotalMilliseconds:F0} ms)");
        return Success;
    }

    private static async Task<int> RollbackAsync(IServiceProvider services, long toVersion, bool force, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        if (!force && await RowsDroppedAsync(services, toVersion, cancellationToken).ConfigureAwait(false) is { Count: > 0 } doomed)
        {
            error.WriteLine($"pliers-data: rolling back to {toVersion} would drop {string.Join(", ", doomed.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Table} ({t.Rows:N0} row{(t.Rows == 1 ? string.Empty : "s")})")))}; nothing was changed. Pass --force to destroy them.");
            return Failure;
        }

        var result = await services.RollbackPliersDatabaseAsync(toVersion, cancellationToken).ConfigureAwait(false);
        output.WriteLine(result.Applied.Count == 0
            ? $"schema '{result.Schema}': nothing to revert; at version {result.ToVersion}"
            : $"schema '{result.Schema}': reverted {string.Join(", ", result.Applied)}; now at version {result.ToVersion}");
        return Success;
    }

    /// <summary>
    /// The tables the rollback would drop that hold rows: the tables named by a <c>drop table</c> of the Down of an
    /// applied migration newer than <paramref name="toVersion"/>, with their exact row counts.
    /// </summary>
    private static async Task<List<(string Table, long Rows)>> RowsDroppedAsync(IServiceProvider services, long toVersion, CancellationToken cancellationToken)
    {
        var database = services.GetRequiredService<Pliers.Data.Internal.PliersDatabase>();
        var status = await services.GetPliersMigrationStatusAsync(cancellationToken).ConfigureAwait(false);
        var applied = status.Migrations.Where(m => m.AppliedOn is not null && m.Version > toVersion).Select(m => m.Version).ToHashSet();
        var drop = new System.Text.RegularExpressions.Regex(@"^drop table (?:if exists )?" + System.Text.RegularExpressions.Regex.Escape(database.QuotedSchema) + @"\.([a-z_][a-z0-9_]*)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);
        var tables = Pliers.Data.Migrations.PliersMigrations.All(database.Schema)
            .Where(m => applied.Contains(m.Version))
            .SelectMany(m => m.DownStatements(database.QuotedSchema))
            .Select(statement => drop.Match(statement))
            .Where(m => m.Success)
            .Select(m => m.Groups[1].Value)
            .Distinct(StringComparer.Ordinal)
            .ToArray();
        var doomed = new List<(string Table, long Rows)>();
        var connection = await database.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            foreach (var table in tables)
            {
                var rows = await Dapper.SqlMapper.ExecuteScalarAsync<long>(connection, new Dapper.CommandDefinition($"select count(*) from {database.QuotedSchema}.{table}", cancellationToken: cancellationToken)).ConfigureAwait(false);
                if (rows > 0)
                {
                    doomed.Add((table, rows));
                }
            }
        }

        return doomed;
    }

    private static async Task<int> StatusAsync(IServiceProvider services, TextWriter output, CancellationToken cancellationToken)
    {
        var status = await services.GetPliersMigrationStatusAsync(cancellationToken).ConfigureAwait(false);
        output.WriteLine($"schema '{status.Schema}' at version {status.CurrentVersion}: {status.Migrations.Count - status.Pending.Count} applied, {status.Pending.Count} pending");
        foreach (var m in status.Migrations)
        {
            var state = m.AppliedOn is { } on ? "applied " + on.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "pending";
            output.WriteLine($"  {m.Version}  {state,-28}  {m.Description}");
        }

        foreach (var v in status.UnknownAppliedVersions)
        {
            output.WriteLine($"  {v}  applied by a newer Pliers.Data release");
        }

        return Success;
    }

    private static async Task<int> VerifyAsync(IServiceProvider services, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var result = await services.VerifyPliersDatabaseAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsMatch)
        {
            output.WriteLine($"schema '{result.Schema}' matches the migrations (version {result.Version})");
            return Success;
        }

        error.WriteLine($"schema '{result.Schema}' has drifted from the migrations (version {result.Version}): {result.Differences.Count} difference(s)");
        foreach (var difference in result.Differences)
        {
            output.WriteLine("  " + FirstLine(difference.ToString()));
        }

        return Failure;
    }

    private static async Task<int> GrantAsync(IServiceProvider services, string role, TextWriter output, CancellationToken cancellationToken)
    {
        var database = services.GetRequiredService<Pliers.Data.Internal.PliersDatabase>();
        await Pliers.Data.Migrations.PliersGrants.GrantAsync(database.DataSource, database.Schema, role, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"role '{role}' may now use schema '{database.Schema}': read/write definitions and submissions, read and append events, run the validation functions; no DDL");
        return Success;
    }

    private static async Task<int> SeedAsync(IServiceProvider services, Pliers.Data.Seeding.SeedPlan plan, TextWriter output, CancellationToken cancellationToken)
    {
        var status = await services.GetPliersMigrationStatusAsync(cancellationToken).ConfigureAwait(false);
        if (status.Pending.Count > 0)
        {
            throw new PliersDataException($"Schema '{status.Schema}' has {status.Pending.Count} pending migration(s); run 'pliers-data migrate' first.");
        }

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        var (forms, submissions, events) = await services.GetRequiredService<Pliers.Data.Seeding.PliersSeeder>().SeedAsync(plan, cancellationToken).ConfigureAwait(false);
        output.WriteLine($"schema '{status.Schema}': seeded {forms} forms{(plan.Versions > 0 ? $" (with {plan.Versions} archived earlier versions)" : string.Empty)}, {submissions} submissions and {events} events in {stopwatch.Elapsed.TotalSeconds:F1} s (seed {plan.Seed})");
        return Success;
    }

    private static async Task<int> CheckDraftAsync(Pliers.Data.Forms.IFormDefinitionRepository forms, string form, TextWriter output, CancellationToken cancellationToken)
    {
        var versions = await forms.GetVersionsAsync(form, cancellationToken).ConfigureAwait(false);
        var draft = versions.LastOrDefault(v => v.Status == Pliers.Data.Forms.FormDefinitionStatus.Draft)
            ?? throw new PliersNotFoundException($"Form '{form}' has no draft version.");
        var active = versions.SingleOrDefault(v => v.Status == Pliers.Data.Forms.FormDefinitionStatus.Active);
        long failing = 0;
        string? cursor = null;
        do
        {
            var page = await forms.CheckDraftAsync(draft.Id, cursor, 500, cancellationToken).ConfigureAwait(false);
            foreach (var failure in page.Items)
            {
                failing++;
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"submission {failure.SubmissionId}: {string.Join("; ", failure.Errors.Select(e => $"{(e.Path.Length == 0 ? "/" : e.Path)} {e.Keyword}: {e.Message}"))}"));
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"draft {draft.Name} v{draft.Version} against the submissions of {(active is null ? "no active version" : $"v{active.Version}")}: {failing} would not validate"));
        return failing == 0 ? Success : Failure;
    }

    /// <summary>The repository in <paramref name="tenant"/> when one was named (a bad id is a usage error: ArgumentException).</summary>
    private static T InTenant<T>(T repository, string? tenant, Func<T, string, T> forTenant) => tenant is null ? repository : forTenant(repository, tenant);

    private static async Task<int> ExportAsync(Pliers.Data.Submissions.IFormSubmissionRepository submissions, string form, Pliers.Data.Submissions.SubmissionExportFormat format, string? file, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var reported = TimeSpan.Zero;
        var progress = new SynchronousProgress(n =>
        {
            if (clock.Elapsed - reported >= TimeSpan.FromSeconds(1))
            {
                reported = clock.Elapsed; // at most a line a second, for long exports
                error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pliers-data: exported {n:N0} submissions ({clock.Elapsed.TotalSeconds:F0} s)"));
            }
        });
        long count;
        if (file is null)
        {
            // stdout: the output writer's stream when it has one (the console), else through a buffer.
            if (output == Console.Out)
            {
                var stdout = Console.OpenStandardOutput();
                await using (stdout.ConfigureAwait(false))
                {
                    count = await submissions.ExportAsync(form, format, stdout, null, progress, cancellationToken).ConfigureAwait(false);
                }
            }
            else
            {
                using var buffer = new MemoryStream();
                count = await submissions.ExportAsync(form, format, buffer, null, progress, cancellationToken).ConfigureAwait(false);
                output.Write(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
            }
        }
        else
        {
            var stream = new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
            await using (stream.ConfigureAwait(false))
            {
                count = await submissions.ExportAsync(form, format, stream, null, progress, cancellationToken).ConfigureAwait(false);
            }
        }

        error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pliers-data: exported {count:N0} submissions of '{form}' as {format.ToString().ToLowerInvariant()} in {clock.Elapsed.TotalSeconds:F1} s"));
        return Success;
    }

    /// <summary>Reports on the caller's thread, in order (Progress&lt;T&gt; posts to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }

    private static async Task<int> SubscriptionsAsync(Pliers.Data.Subscriptions.ISubscriptionStore store, string verb, string? name, long? parkedId, Pliers.Data.Subscriptions.SubscriptionStart start, TextWriter output, CancellationToken cancellationToken)
    {
        switch (verb)
        {
            case "list":
                var listed = await store.ListAsync(cancellationToken).ConfigureAwait(false);
                if (listed.Count == 0)
                {
                    output.WriteLine("no subscriptions");
                }

                foreach (var s in listed)
                {
                    var state = s.StoppedAt is { } stopped ? $"STOPPED since {stopped:u}: {s.LastError}"
                        : s.FailingSince is { } failing ? $"failing since {failing:u}: {s.LastError}"
                        : "running";
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{s.Name}  partitions {s.Partitions.Count}  members {s.LiveMembers}  lag {s.Lag.TotalSeconds:F1} s  parked {s.Parked}  {state}"));
                    foreach (var p in s.Partitions)
                    {
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {p.Partition,4}  at {p.Checkpoint}  {(p.Owner is null ? "free" : $"owner {p.Owner} until {p.LeaseUntil:u}")}"));
                    }
                }

                return Success;
            case "parked":
                var parked = await store.ListParkedAsync(name!, cancellationToken).ConfigureAwait(false);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{parked.Count} parked event(s) of '{name}'"));
                foreach (var p in parked)
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  #{p.Id}  event {p.EventId} at {p.Position}  attempts {p.Attempts}  parked {p.ParkedAt:u}{(p.ReplayRequestedAt is null ? "" : "  replay requested")}  {FirstLine(p.Error)}"));
                }

                return Success;
            case "replay":
                var marked = await store.ReplayParkedAsync(name!, parkedId, cancellationToken).ConfigureAwait(false);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{marked} parked event(s) of '{name}' marked for replay; running members replay them at their next heartbeat"));
                return marked > 0 || parkedId is null ? Success : Failure;
            case "reset":
                await store.ResetAsync(name!, start, cancellationToken).ConfigureAwait(false);
                output.WriteLine($"'{name}' reset to {start}; running members continue from there");
                return Success;
            default:
                await store.ResumeAsync(name!, cancellationToken).ConfigureAwait(false);
                output.WriteLine($"'{name}' resumed");
                return Success;
        }
    }

    private static int UsageError(TextWriter error, string message)
    {
        error.WriteLine("pliers-data: " + message);
        error.WriteLine("run 'pliers-data --help' for usage");
        return BadUsage;
    }

    /// <summary>One line for the operator: the PostgreSQL error or the connection failure, never a stack trace.</summary>
    private static string Describe(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case PostgresException pg:
                    return FirstLine("PostgreSQL refused: " + pg.Message);
                case NpgsqlException npgsql:
                    return FirstLine("cannot reach PostgreSQL: " + (npgsql.InnerException?.Message ?? npgsql.Message));
            }
        }

        return FirstLine(exception.Message);
    }

    private static string FirstLine(string text)
    {
        var line = text.Split('\n', 2)[0].Trim();
        return line.Length > 300 ? line[..300] + "..." : line;
    }
}
