namespace Pliers.Data.Tests.Infrastructure;

/// <summary>Finds ../shared/conformance beside the checkout (CI lays it there).</summary>
internal static class Conformance
{
    public static string Folder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Pliers.Data.sln")))
                {
                    var shared = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "conformance"));
                    return Directory.Exists(shared)
                        ? shared
                        : throw new DirectoryNotFoundException($"The conformance data is missing: expected {shared} (../shared/conformance beside the checkout).");
                }
            }

            throw new DirectoryNotFoundException("Pliers.Data.sln was not found above the test binaries.");
        }
    }

    public static string Suite => Path.Combine(Folder, "json-schema-test-suite");
}
