using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Npgsql;
using Testcontainers.PostgreSql;

namespace Pliers.Data.Testing;

/// <summary>Where a <see cref="TestPostgres"/> server came from.</summary>
public enum TestPostgresSource
{
    /// <summary>The connection string in the <c>PLIERS_TEST_CONNECTION</c> environment variable.</summary>
    Environment,

    /// <summary>A container started through Testcontainers.</summary>
    Testcontainers,

    /// <summary>A temporary cluster started from the local PostgreSQL binaries.</summary>
    LocalBinaries,
}

/// <summary>Options for <see cref="TestPostgres.StartAsync(TestPostgresOptions?, CancellationToken)"/>.</summary>
public sealed class TestPostgresOptions
{
    /// <summary>
    /// Gets or sets the environment variable read first for a connection string. The default is <c>PLIERS_TEST_CONNECTION</c>.
    /// </summary>
    public string ConnectionStringVariable { get; set; } = "PLIERS_TEST_CONNECTION";

    /// <summary>
    /// Gets or sets a value indicating whether a local cluster trades durability for speed
    /// (<c>fsync</c>, <c>synchronous_commit</c> and <c>full_page_writes</c> off). The default is <see langword="true"/>;
    /// benchmarks turn it off to measure what production would see.
    /// </summary>
    public bool FastUnsafe { get; set; } = true;

    /// <summary>Gets or sets a value indicating whether Testcontainers is tried when a Docker engine answers. The default is <see langword="true"/>.</summary>
    public bool UseTestcontainers { get; set; } = true;

    /// <summary>Gets or sets the <c>max_connections</c> of a local cluster. The default is 200.</summary>
    public int MaxConnections { get; set; } = 200;

    /// <summary>Gets or sets where progress lines are written (for example <see cref="Console.Error"/>), or <see langword="null"/> for silence.</summary>
    public TextWriter? Log { get; set; }
}

/// <summary>
/// A throwaway PostgreSQL server: the connection string in <c>PLIERS_TEST_CONNECTION</c> when set; else a
/// Testcontainers container when a Docker engine answers; else a temporary cluster started from the local
/// PostgreSQL binaries on a free loopback port, run as the <c>postgres</c> user when the process is root.
/// Disposing it stops and deletes what it started. A cluster left behind by a killed process is stopped by a
/// watchdog when that process dies, and swept at the next start otherwise.
/// </summary>
public sealed class TestPostgres : IAsyncDisposable
{
    private const string ClusterFolderName = "pliers-test-postgres";
    private readonly Func<ValueTask>? _stop;
    private LocalInfo? _local;

    private TestPostgres(string connectionString, TestPostgresSource source, Func<ValueTask>? stop)
    {
        ConnectionString = connectionString;
        Source = source;
        _stop = stop;
    }

    /// <summary>Gets the connection string of a superuser on the server.</summary>
    public string ConnectionString { get; }

    /// <summary>Gets where the server came from.</summary>
    public TestPostgresSource Source { get; }

    /// <summary>Finds or starts a PostgreSQL server, in the order the class summary gives.</summary>
    /// <param name="options">Options, or <see langword="null"/> for the defaults.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A running server; dispose it to stop it.</returns>
    /// <exception cref="InvalidOperationException">No server could be found or started; the message says what to install.</exception>
    public static async Task<TestPostgres> StartAsync(TestPostgresOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TestPostgresOptions();
        var fromEnvironment = Environment.GetEnvironmentVariable(options.ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            options.Log?.WriteLine($"PostgreSQL: using ${options.ConnectionStringVariable}");
            return new TestPostgres(fromEnvironment, TestPostgresSource.Environment, null);
        }

        var problems = new List<string>();
        if (TriesTestcontainers(options.UseTestcontainers, Environment.GetEnvironmentVariable("DOCKER_HOST"), File.Exists(DockerSocket)))
        {
            try
            {
                var container = await StartContainerAsync(null, cancellationToken).ConfigureAwait(false);
                options.Log?.WriteLine("PostgreSQL: started a Testcontainers container");
                return container;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                problems.Add("Testcontainers: " + e.Message);
            }
        }
        else
        {
            problems.Add(options.UseTestcontainers
                ? $"Testcontainers: no Docker engine (no DOCKER_HOST and no {DockerSocket})"
                : "Testcontainers: turned off (TestPostgresOptions.UseTestcontainers)");
        }

        try
        {
            return await LocalCluster.StartAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            problems.Add("local binaries: " + e.Message);
        }

        throw new InvalidOperationException(
            "No PostgreSQL server for tests. Do one of: set PLIERS_TEST_CONNECTION to a connection string of a superuser; " +
            "start a Docker engine (Testcontainers uses postgres:15-alpine); or install the PostgreSQL 15+ server binaries " +
            "(Debian/Ubuntu: apt-get install postgresql-15) so that initdb and pg_ctl are on PATH or in `pg_config --bindir`. " +
            "Tried: " + string.Join("; ", problems));
    }

    /// <summary>Creates a new empty database on the server and returns a connection string for it.</summary>
    /// <param name="name">The database name: lower-case letters, digits and '_'.</param>
    /// <param name="cancellationToken">Cancels the command.</param>
    /// <returns>The connection string of the new database.</returns>
    public async Task<string> CreateDatabaseAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_') || name.Length > 63)
        {
            throw new ArgumentException("Use lower-case letters, digits and '_' (at most 63).", nameof(name));
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand($"create database \"{name}\"", connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name }.ConnectionString;
    }

    /// <summary>Stops and deletes what this instance started; a server from the environment is left alone.</summary>
    /// <returns>A task that completes when the server is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_stop is not null)
        {
            await _stop().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Starts a streaming standby of this server (pg_basebackup -R from the local binaries) on a port of its own;
    /// only for a <see cref="TestPostgresSource.LocalBinaries"/> server. Dispose the standby before this server.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The standby, read-only, following this server.</returns>
    /// <exception cref="NotSupportedException">This server was not started from the local binaries.</exception>
    public Task<TestPostgres> StartStandbyAsync(CancellationToken cancellationToken = default) =>
        _local is { } info
            ? LocalCluster.StartStandbyAsync(this, info, cancellationToken)
            : throw new NotSupportedException("A standby can only be started for a cluster started from the local binaries.");

    /// <summary>
    /// Restarts a local cluster (pg_ctl restart, fast mode): every connection is cut, the server comes back on the
    /// same port. Only for a <see cref="TestPostgresSource.LocalBinaries"/> server; for fault-injection tests.
    /// </summary>
    /// <param name="cancellationToken">Cancels the restart.</param>
    /// <returns>A task that completes when the server accepts connections again.</returns>
    /// <exception cref="NotSupportedException">This server was not started from the local binaries.</exception>
    public Task RestartAsync(CancellationToken cancellationToken = default) =>
        _local is { } info && _dataDirectory is { } data
            ? LocalCluster.RestartAsync(info, data, cancellationToken)
            : throw new NotSupportedException("Only a cluster started from the local binaries can be restarted.");

    private string? _dataDirectory;

    /// <summary>
    /// Stops a local cluster at once (<c>pg_ctl stop -m immediate</c>), the way a crash or a lost machine would: no
    /// checkpoint, every connection cut. Only for a <see cref="TestPostgresSource.LocalBinaries"/> server; for failover
    /// tests. Dispose it as usual afterwards.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait for the stop.</param>
    /// <returns>A task that completes when the server is gone.</returns>
    /// <exception cref="NotSupportedException">This server was not started from the local binaries.</exception>
    public Task KillAsync(CancellationToken cancellationToken = default) =>
        _local is { } info && _dataDirectory is { } data
            ? LocalCluster.RunAsync(Path.Combine(info.BinDir, "pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-w", "-t", "60"], info.RunAsPostgres, cancellationToken)
            : throw new NotSupportedException("Only a cluster started from the local binaries can be killed.");

    /// <summary>
    /// Promotes a streaming standby (<see cref="StartStandbyAsync"/>) to a primary (<c>pg_ctl promote -w</c>): it stops
    /// following, finishes recovery and accepts writes on the same port.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait for the promotion.</param>
    /// <returns>A task that completes when the server accepts writes.</returns>
    /// <exception cref="NotSupportedException">This server was not started from the local binaries.</exception>
    public Task PromoteAsync(CancellationToken cancellationToken = default) =>
        _local is { } info && _dataDirectory is { } data
            ? LocalCluster.RunAsync(Path.Combine(info.BinDir, "pg_ctl"), ["promote", "-D", data, "-w", "-t", "60"], info.RunAsPostgres, cancellationToken)
            : throw new NotSupportedException("Only a cluster started from the local binaries can be promoted.");

    private sealed record LocalInfo(string BinDir, bool RunAsPostgres, string Password, TestPostgresOptions Options);

    private const string DockerSocket = "/var/run/docker.sock";

    /// <summary>
    /// Whether the fixture tries Testcontainers (after PLIERS_TEST_CONNECTION, before the local binaries): only when it
    /// is allowed and a Docker engine may answer, so machines without Docker never wait for a container.
    /// </summary>
    internal static bool TriesTestcontainers(bool allowed, string? dockerHost, bool socketExists) =>
        allowed && (!string.IsNullOrWhiteSpace(dockerHost) || socketExists);

    /// <summary>Starts a postgres:15-alpine container; <paramref name="dockerEndpoint"/> overrides Testcontainers' own discovery.</summary>
    internal static async Task<TestPostgres> StartContainerAsync(string? dockerEndpoint, CancellationToken cancellationToken)
    {
        var builder = new PostgreSqlBuilder("postgres:15-alpine");
        if (dockerEndpoint is not null)
        {
            builder = builder.WithDockerEndpoint(dockerEndpoint);
        }

        var container = builder.Build();
        try
        {
            await container.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await container.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new TestPostgres(container.GetConnectionString(), TestPostgresSource.Testcontainers, container.DisposeAsync);
    }

    private static class LocalCluster
    {
        public static async Task<TestPostgres> StartAsync(TestPostgresOptions options, CancellationToken cancellationToken)
        {
            if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            {
                throw new PlatformNotSupportedException("a local cluster is only started on Linux and macOS");
            }

            var binDir = await FindBinDirAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new FileNotFoundException("initdb and pg_ctl were found neither on PATH, nor in `pg_config --bindir`, nor under /usr/lib/postgresql/*/bin");
            var runAsPostgres = Environment.IsPrivilegedProcess;
            var root = Path.Combine(Path.GetTempPath(), ClusterFolderName);
            Directory.CreateDirectory(root);
            await SweepStaleClustersAsync(root, binDir, runAsPostgres).ConfigureAwait(false);

            var folder = await NewFolderAsync(root, runAsPostgres, cancellationToken).ConfigureAwait(false);
            var data = Path.Combine(folder, "data");
            try
            {
                // Local socket logins are trusted (for pg_ctl); TCP logins need the password, as in production.
                var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();
                var passwordFile = Path.Combine(folder, "pwfile");
                await File.WriteAllTextAsync(passwordFile, password + "\n", cancellationToken).ConfigureAwait(false);
                if (runAsPostgres)
                {
                    await RunAsync("chown", ["postgres", passwordFile], false, cancellationToken).ConfigureAwait(false);
                }

                await RunAsync(Path.Combine(binDir, "initdb"), ["-D", data, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile", passwordFile, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"], runAsPostgres, cancellationToken).ConfigureAwait(false);
                File.Delete(passwordFile);
                return await LaunchAsync(new LocalInfo(binDir, runAsPostgres, password, options), folder, "local cluster", cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                TryDelete(folder);
                throw;
            }
        }

        /// <summary>Copies a running local primary with pg_basebackup -R and starts the copy as a streaming standby.</summary>
        public static async Task<TestPostgres> StartStandbyAsync(TestPostgres primary, LocalInfo info, CancellationToken cancellationToken)
        {
            var root = Path.Combine(Path.GetTempPath(), ClusterFolderName);
            var folder = await NewFolderAsync(root, info.RunAsPostgres, cancellationToken).ConfigureAwait(false);
            try
            {
                var port = new NpgsqlConnectionStringBuilder(primary.ConnectionString).Port;
                await RunAsync(
                    "env",
                    ["PGPASSWORD=" + info.Password, Path.Combine(info.BinDir, "pg_basebackup"), "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-D", Path.Combine(folder, "data"), "-R", "-X", "stream", "--no-sync"],
                    info.RunAsPostgres,
                    cancellationToken).ConfigureAwait(false);
                return await LaunchAsync(info, folder, "streaming standby", cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                TryDelete(folder);
                throw;
            }
        }

        public static Task RestartAsync(LocalInfo info, string data, CancellationToken cancellationToken) =>
            RunAsync(Path.Combine(info.BinDir, "pg_ctl"), ["restart", "-D", data, "-m", "fast", "-w", "-t", "60", "-l", Path.Combine(Path.GetDirectoryName(data)!, "server.log")], info.RunAsPostgres, cancellationToken);

        private static async Task<string> NewFolderAsync(string root, bool runAsPostgres, CancellationToken cancellationToken)
        {
            var folder = Path.Combine(root, $"{Environment.ProcessId}-{Guid.NewGuid():N}"[..24]);
            Directory.CreateDirectory(folder);
            await File.WriteAllTextAsync(Path.Combine(folder, "owner"), OwnerStamp(Environment.ProcessId), cancellationToken).ConfigureAwait(false);
            if (runAsPostgres)
            {
                await RunAsync("chown", ["-R", "postgres", folder], false, cancellationToken).ConfigureAwait(false);
            }

            return folder;
        }

        /// <summary>Starts the cluster in folder/data on a free port, with a watchdog, and wraps it.</summary>
        private static async Task<TestPostgres> LaunchAsync(LocalInfo info, string folder, string what, CancellationToken cancellationToken)
        {
            var (binDir, runAsPostgres, password, options) = info;
            var data = Path.Combine(folder, "data");
            var settings = new StringBuilder($"-c listen_addresses=127.0.0.1 -k {folder} -c max_connections={options.MaxConnections} -c max_prepared_transactions=20");
            if (options.FastUnsafe)
            {
                settings.Append(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }

            int port = 0;
            for (var attempt = 1; ; attempt++)
            {
                port = FreePort();
                try
                {
                    await RunAsync(Path.Combine(binDir, "pg_ctl"), ["start", "-D", data, "-w", "-t", "60", "-l", Path.Combine(folder, "server.log"), "-o", $"-p {port} {settings}"], runAsPostgres, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (InvalidOperationException) when (attempt < 3)
                {
                    // Another process took the port between our probe and the server's bind; try another.
                }
            }

            var watchdog = StartWatchdog(binDir, data, folder, runAsPostgres);
            options.Log?.WriteLine($"PostgreSQL: started a {what} from {binDir} on port {port} in {folder}");
            var connectionString = new NpgsqlConnectionStringBuilder
            {
                Host = "127.0.0.1",
                Port = port,
                Username = "postgres",
                Password = password,
                Database = "postgres",
            }.ConnectionString;
            return new TestPostgres(connectionString, TestPostgresSource.LocalBinaries, async () =>
            {
                NpgsqlConnection.ClearAllPools();
                try
                {
                    await RunAsync(Path.Combine(binDir, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w", "-t", "30"], runAsPostgres, CancellationToken.None).ConfigureAwait(false);
                }
                catch (InvalidOperationException)
                {
                    try
                    {
                        await RunAsync(Path.Combine(binDir, "pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-w"], runAsPostgres, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (InvalidOperationException)
                    {
                        // Not running any more (killed by KillAsync, or it died): nothing left to stop.
                    }
                }
                finally
                {
                    TryKill(watchdog);
                    TryDelete(folder);
                }
            })
            {
                _local = info,
                _dataDirectory = data,
            };
        }

        private static async Task<string?> FindBinDirAsync(CancellationToken cancellationToken)
        {
            static bool HasBinaries(string dir) => File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"));

            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                if (HasBinaries(dir))
                {
                    // PATH often holds symlinks (Debian's /usr/local/bin -> /usr/lib/postgresql/15/bin); the real
                    // folder also has pg_basebackup and the other tools.
                    var real = Path.GetDirectoryName(new FileInfo(Path.Combine(dir, "initdb")).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? string.Empty);
                    return !string.IsNullOrEmpty(real) && HasBinaries(real) ? real : dir;
                }
            }

            try
            {
                var fromPgConfig = (await RunAsync("pg_config", ["--bindir"], false, cancellationToken).ConfigureAwait(false)).Trim();
                if (HasBinaries(fromPgConfig))
                {
                    return fromPgConfig;
                }
            }
            catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // No pg_config either; look in the usual Debian folder below.
            }

            const string debian = "/usr/lib/postgresql";
            return Directory.Exists(debian)
                ? Directory.GetDirectories(debian)
                    .Select(d => Path.Combine(d, "bin"))
                    .Where(HasBinaries)
                    .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                    .FirstOrDefault()
                : null;
        }

        private static string OwnerStamp(int pid)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                return $"{pid} {process.StartTime.ToUniversalTime().Ticks}";
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
                return $"{pid} 0";
            }
        }

        /// <summary>
        /// Whether two owner stamps name the same process: the same pid and start times within two seconds. .NET derives
        /// a process's start time from the boot time, which it estimates anew in every process (now minus uptime), so the
        /// same process's stamp differs by a few ticks between two test runs; compared exactly, a concurrent run swept a
        /// live cluster (measured: a second test run on the machine stopped the first one's server mid-test).
        /// </summary>
        private static bool SameProcess(string current, string recorded)
        {
            var a = current.Split(' ');
            var b = recorded.Split(' ');
            return a.Length == 2 && b.Length == 2 && a[0] == b[0]
                && long.TryParse(a[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var x) && x != 0
                && long.TryParse(b[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var y)
                && Math.Abs(x - y) < TimeSpan.FromSeconds(2).Ticks;
        }

        /// <summary>Stops and deletes clusters whose owning process is gone (a test run that was killed).</summary>
        private static async Task SweepStaleClustersAsync(string root, string binDir, bool runAsPostgres)
        {
            foreach (var folder in Directory.GetDirectories(root))
            {
                var ownerFile = Path.Combine(folder, "owner");
                string stamp;
                try
                {
                    stamp = File.ReadAllText(ownerFile).Trim();
                }
                catch (IOException)
                {
                    continue;
                }

                var pid = int.TryParse(stamp.Split(' ')[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var p) ? p : -1;
                if (pid > 0 && SameProcess(OwnerStamp(pid), stamp))
                {
                    continue; // still running
                }

                var data = Path.Combine(folder, "data");
                if (File.Exists(Path.Combine(data, "postmaster.pid")))
                {
                    try
                    {
                        await RunAsync(Path.Combine(binDir, "pg_ctl"), ["stop", "-D", data, "-m", "immediate", "-w", "-t", "20"], runAsPostgres, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (InvalidOperationException)
                    {
                        // Already stopped; the folder goes anyway.
                    }
                }

                TryDelete(folder);
            }
        }

        /// <summary>
        /// A detached shell that waits for this process to die and then stops the cluster, so a killed test
        /// run never leaves a server behind.
        /// </summary>
        private static Process? StartWatchdog(string binDir, string data, string folder, bool runAsPostgres)
        {
            var stop = $"{(runAsPostgres ? "runuser -u postgres -- " : string.Empty)}'{Path.Combine(binDir, "pg_ctl")}' stop -D '{data}' -m immediate -w -t 20";
            var script = $"while kill -0 {Environment.ProcessId} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{folder}'";
            try
            {
                var start = new ProcessStartInfo("setsid", ["/bin/sh", "-c", script])
                {
                    UseShellExecute = false,
                    RedirectStandardInput = true,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                };
                return Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null; // no setsid: the sweep at the next start cleans up instead
            }
        }

        private static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }

        private static void TryKill(Process? process)
        {
            try
            {
                process?.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already gone
            }
            finally
            {
                process?.Dispose();
            }
        }

        private static void TryDelete(string folder)
        {
            try
            {
                Directory.Delete(folder, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // best effort: the next sweep retries
            }
        }

        internal static async Task<string> RunAsync(string fileName, IReadOnlyList<string> arguments, bool asPostgres, CancellationToken cancellationToken)
        {
            var start = asPostgres
                ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", fileName, .. arguments])
                : new ProcessStartInfo(fileName, arguments);
            start.UseShellExecute = false;
            start.RedirectStandardOutput = true;
            start.RedirectStandardError = true;
            start.RedirectStandardInput = true;
            start.WorkingDirectory = Path.GetTempPath();
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {fileName}");
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
            await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
            var output = await stdout.ConfigureAwait(false);
            var error = await stderr.ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{Path.GetFileName(fileName)} exited with {process.ExitCode}: {error.Trim()} {output.Trim()}".Trim());
            }

            return output;
        }
    }
}
