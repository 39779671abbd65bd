using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Pliers.Data.Tests.Infrastructure;

/// <summary>The README's C# compiles as written, against the library as built, in a console app with the SDK's implicit usings.</summary>
public sealed partial class ReadmeTests
{
    [GeneratedRegex("```csharp\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    [Fact]
    public async Task Every_csharp_block_of_the_README_compiles_as_written()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Pliers.Data.sln")))
        {
            root = root.Parent!;
        }

        var readme = await File.ReadAllTextAsync(Path.Combine(root.FullName, "README.md"), TestContext.Current.CancellationToken);
        var blocks = CSharpBlock().Matches(readme).Select(m => m.Groups[1].Value).ToArray();
        Assert.NotEmpty(blocks);

        // Everything this test process can load: the framework, Pliers.Data and its dependencies.
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Where(p => p.EndsWith(".dll", StringComparison.Ordinal))
            .Select(p => MetadataReference.CreateFromFile(p))
            .ToArray();
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        foreach (var block in blocks)
        {
            var compilation = CSharpCompilation.Create(
                "ReadmeSample",
                [CSharpSyntaxTree.ParseText(ImplicitUsings, parse, cancellationToken: TestContext.Current.CancellationToken), CSharpSyntaxTree.ParseText(block, parse, cancellationToken: TestContext.Current.CancellationToken)],
                references,
                new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
            using var output = new MemoryStream();
            var result = compilation.Emit(output, cancellationToken: TestContext.Current.CancellationToken);
            var errors = result.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToArray();
            Assert.True(result.Success, "README block does not compile:\n" + block + "\n" + string.Join("\n", errors));
        }
    }
}
