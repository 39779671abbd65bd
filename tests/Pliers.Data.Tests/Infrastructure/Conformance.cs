namespace Pliers.Data.Tests.Infrastructure;

/// <summary>The repository's own copy of the conformance data (<c>testdata/</c>); nothing outside the checkout is read.</summary>
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
                    var data = Path.Combine(dir.FullName, "testdata");
                    return Directory.Exists(data)
                        ? data
                        : throw new DirectoryNotFoundException($"The test data is missing: expected {data} in the checkout.");
                }
            }

            throw new DirectoryNotFoundException("Pliers.Data.sln was not found above the test binaries.");
        }
    }

    public static string Suite => Path.Combine(Folder, "json-schema-test-suite");
}
