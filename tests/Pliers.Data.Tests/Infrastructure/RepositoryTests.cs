using System.Diagnostics;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>The repository is self-contained: a bare clone has every file the tests and benchmarks read.</summary>
public sealed class RepositoryTests
{
    private static string Root()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pliers.Data.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException("Pliers.Data.sln was not found above the test binaries.");
    }

    private static async Task<string[]> TrackedFilesAsync(string root)
    {
        var start = new ProcessStartInfo("git", ["-C", root, "ls-files"]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var git = Process.Start(start)!;
        var output = await git.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await git.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(git.ExitCode == 0, "git ls-files failed: " + await git.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The ways a path to the folder beside the checkout was written (built here so this file does not name it).</summary>
    private static readonly string[] OutsideReferences = Patterns("shar" + "ed");

    private static string[] Patterns(string folder) => [$"../{folder}", $"\"..\", \"{folder}\""];

    [Fact]
    public async Task Every_file_the_tests_read_is_tracked_and_no_code_reaches_outside_the_checkout()
    {
        var root = Root();
        var tracked = (await TrackedFilesAsync(root)).ToHashSet(StringComparer.Ordinal);

        // The conformance data the tests and benchmarks read is in the repository itself.
        var data = Directory.EnumerateFiles(Conformance.Folder, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f).Replace('\\', '/'))
            .ToArray();
        Assert.Contains("testdata/json-schema-test-suite/LICENSE", data);
        Assert.Contains("testdata/bench_schema.json", data);
        Assert.True(data.Count(f => f.StartsWith("testdata/json-schema-test-suite/tests/draft2020-12/", StringComparison.Ordinal)) > 40);
        Assert.All(data, f => Assert.Contains(f, tracked));

        // No source, project or script file names a folder beside the checkout.
        var code = tracked.Where(f => f.EndsWith(".cs", StringComparison.Ordinal) || f.EndsWith("proj", StringComparison.Ordinal)
                                      || f.EndsWith(".props", StringComparison.Ordinal) || f.StartsWith(".ci/", StringComparison.Ordinal));
        var offenders = new List<string>();
        foreach (var file in code)
        {
            var text = await File.ReadAllTextAsync(Path.Combine(root, file), TestContext.Current.CancellationToken);
            if (OutsideReferences.Any(r => text.Contains(r, StringComparison.Ordinal)))
            {
                offenders.Add(file);
            }
        }

        Assert.Empty(offenders);
    }
}
