using System.Diagnostics;
using Pliers.Data.Tests.Infrastructure;

namespace Pliers.Data.Tests.Packaging;

/// <summary>
/// Packs the libraries and checks the packages; with PLIERS_PACKAGE_TEST=full (set by .ci/run) it also installs them
/// into a scratch project from a local folder and runs the repository's quickstart against them, as a user would.
/// </summary>
public sealed class PackageTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static bool Full => string.Equals(Environment.GetEnvironmentVariable("PLIERS_PACKAGE_TEST"), "full", StringComparison.OrdinalIgnoreCase);

#if DEBUG
    private const string BuiltConfiguration = "Debug";
#else
    private const string BuiltConfiguration = "Release";
#endif

    private static Task<string> RunAsync(string workingDirectory, params string[] arguments) =>
        RunAsync(workingDirectory, new Dictionary<string, string>(), arguments);

    private static async Task<string> RunAsync(string workingDirectory, Dictionary<string, string> environment, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet", arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        var text = await output + await error;
        Assert.True(process.ExitCode == 0, $"dotnet {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{text}");
        return text;
    }

    [Fact]
    public async Task The_packed_library_installs_from_a_local_folder_and_runs_the_quickstart()
    {
        var repository = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(repository.FullName, "Pliers.Data.sln")))
        {
            repository = repository.Parent!;
        }

        var scratch = Directory.CreateTempSubdirectory("pliers-package-");
        try
        {
            var version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
            var feed = Path.Combine(scratch.FullName, "feed");
            // By default the test packs what this test run already built (a few seconds); the full run builds the
            // packages in Release, as a release would.
            string[] build = Full ? ["-c", "Release"] : ["-c", BuiltConfiguration, "--no-build"];
            await RunAsync(repository.FullName, ["pack", "src/Pliers.Data/Pliers.Data.csproj", .. build, "-o", feed, $"-p:Version={version}"]);
            await RunAsync(repository.FullName, ["pack", "src/Pliers.Data.Testing/Pliers.Data.Testing.csproj", .. build, "-o", feed, $"-p:Version={version}"]);
            var package = Path.Combine(feed, $"Pliers.Data.{version}.nupkg");
            Assert.True(File.Exists(package));
            Assert.True(File.Exists(Path.Combine(feed, $"Pliers.Data.{version}.snupkg")), "symbols are packed");
            using (var zip = System.IO.Compression.ZipFile.OpenRead(package))
            {
                var entries = zip.Entries.Select(e => e.FullName).ToArray();
                Assert.Contains("README.md", entries);
                Assert.Contains("lib/net10.0/Pliers.Data.xml", entries);
                Assert.Contains("lib/net10.0/Pliers.Data.dll", entries);
            }

            using (var zip = System.IO.Compression.ZipFile.OpenRead(Path.Combine(feed, $"Pliers.Data.Testing.{version}.nupkg")))
            {
                var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
                using var reader = new StreamReader(nuspec.Open());
                var text = await reader.ReadToEndAsync(Ct);
                Assert.Contains($"id=\"Pliers.Data\" version=\"{version}\"", text, StringComparison.Ordinal);
                Assert.Contains("<license type=\"expression\">MIT</license>", text, StringComparison.Ordinal);
            }

            if (!Full)
            {
                return;
            }

            var app = Path.Combine(scratch.FullName, "app");
            Directory.CreateDirectory(app);
            var upstream = File.ReadAllText(Path.Combine(repository.FullName, "nuget.config"));
            await File.WriteAllTextAsync(Path.Combine(app, "nuget.config"), upstream.Replace("<clear />", $"<clear />\n    <add key=\"local\" value=\"{feed}\" />", StringComparison.Ordinal), Ct);
            await File.WriteAllTextAsync(Path.Combine(app, "App.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Pliers.Data" Version="{version}" />
                    <PackageReference Include="Pliers.Data.Testing" Version="{version}" />
                  </ItemGroup>
                </Project>
                """, Ct);
            // The repository's own quickstart, unchanged, against the packages.
            File.Copy(Path.Combine(repository.FullName, "samples", "Pliers.Data.Quickstart", "Program.cs"), Path.Combine(app, "Program.cs"));

            try
            {
                var output = await RunAsync(app, new Dictionary<string, string> { ["PLIERS_CONNECTION"] = postgres.ConnectionString }, "run");
                Assert.Contains("Published form 'support-request-", output, StringComparison.Ordinal);
                Assert.Contains("Refused invalid submission:", output, StringComparison.Ordinal);
                Assert.Contains("form.submission.submitted", output, StringComparison.Ordinal);
            }
            finally
            {
                await postgres.ExecuteAsync("drop schema if exists pliers cascade"); // the quickstart's schema
            }
        }
        finally
        {
            scratch.Delete(recursive: true);
        }
    }
}
