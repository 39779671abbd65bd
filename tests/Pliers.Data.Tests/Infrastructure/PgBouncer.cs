using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>
/// A real <c>pgbouncer</c> process in front of the test server, with two databases: <c>txn</c> (pool_mode transaction)
/// and <c>session</c> (pool_mode session, DISCARD ALL between clients). Started from the binary on PATH or
/// <c>/usr/sbin</c> (Debian's package; <c>.ci/run</c> installs it); as root it runs as the <c>postgres</c> OS user,
/// which PgBouncer requires. Without the binary the caller skips outside CI and fails under <c>CI=true</c>.
/// </summary>
internal sealed class PgBouncer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _folder;

    private PgBouncer(Process process, string folder, int port, NpgsqlConnectionStringBuilder server)
    {
        _process = process;
        _folder = folder;
        Port = port;
        Server = server;
    }

    /// <summary>The port PgBouncer listens on (127.0.0.1).</summary>
    public int Port { get; }

    private NpgsqlConnectionStringBuilder Server { get; }

    /// <summary>The pool size of the transaction-pooled database: small, so that a few probes reach every server connection.</summary>
    public const int PoolSize = 2;

    /// <summary>A connection string through PgBouncer to <paramref name="database"/> (<c>txn</c> or <c>session</c>).</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Database = database,
        Username = Server.Username,
        Password = "unused", // PgBouncer authenticates clients with trust here and logs in to the server itself
        Timeout = 15,
    }.ConnectionString;

    /// <summary>The binary, or null when PgBouncer is not installed.</summary>
    public static string? Binary() =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':').Append("/usr/sbin").Append("/usr/bin")
            .Select(d => Path.Combine(d, "pgbouncer")).FirstOrDefault(File.Exists);

    /// <summary>Starts PgBouncer in front of <paramref name="serverConnectionString"/>; returns when it accepts connections.</summary>
    public static async Task<PgBouncer> StartAsync(string binary, string serverConnectionString, CancellationToken cancellationToken)
    {
        var server = new NpgsqlConnectionStringBuilder(serverConnectionString);
        var folder = Directory.CreateTempSubdirectory("pliers-pgbouncer-").FullName;
        var asPostgres = Environment.IsPrivilegedProcess;
        var port = FreePort();
        var target = string.Create(CultureInfo.InvariantCulture, $"host={server.Host} port={server.Port} dbname={server.Database} user={server.Username} password={server.Password}");
        await File.WriteAllTextAsync(Path.Combine(folder, "userlist.txt"), $"\"{server.Username}\" \"\"\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(folder, "pgbouncer.ini"), string.Create(CultureInfo.InvariantCulture, $"""
            [databases]
            txn = {target} pool_mode=transaction pool_size={PoolSize}
            session = {target} pool_mode=session pool_size=20

            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = {port}
            unix_socket_dir =
            auth_type = trust
            auth_file = {folder}/userlist.txt
            max_client_conn = 500
            server_reset_query = DISCARD ALL
            ignore_startup_parameters = extra_float_digits,options
            logfile = {folder}/pgbouncer.log
            pidfile = {folder}/pgbouncer.pid
            """), cancellationToken);
        if (asPostgres)
        {
            await Process.Start("chown", ["-R", "postgres", folder]).WaitForExitAsync(cancellationToken);
        }

        var start = asPostgres
            ? new ProcessStartInfo("runuser", ["-u", "postgres", "--", binary, Path.Combine(folder, "pgbouncer.ini")])
            : new ProcessStartInfo(binary, [Path.Combine(folder, "pgbouncer.ini")]);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException("pgbouncer did not start");
        var bouncer = new PgBouncer(process, folder, port, server);

        // Ready when a client gets an answer through it (bounded: 20 s).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (true)
        {
            try
            {
                // Unpooled: a pooled client connection would keep a session-mode server connection.
                await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(bouncer.ConnectionString("session")) { Pooling = false }.ConnectionString);
                await connection.OpenAsync(cancellationToken);
                return bouncer;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline && !process.HasExited)
            {
                await Task.Delay(50, cancellationToken);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                var log = File.Exists(Path.Combine(folder, "pgbouncer.log")) ? await File.ReadAllTextAsync(Path.Combine(folder, "pgbouncer.log"), cancellationToken) : string.Empty;
                await bouncer.DisposeAsync();
                throw new InvalidOperationException($"pgbouncer did not accept connections: {e.Message}\n{log}", e);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
