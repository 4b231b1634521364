// The C# sources of the repository, parsed: every .cs file outside build output (bin, obj) and test results.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace FineTune.Style.Tests;

static class SourceFiles
{
    static readonly HashSet<string> Skipped = ["bin", "obj", ".git", "TestResults", ".run", "node_modules"];

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "FineTunePipeline.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("FineTunePipeline.sln not found above " + AppContext.BaseDirectory);
    }

    public static IEnumerable<string> Paths(string directory)
    {
        foreach (var file in Directory.EnumerateFiles(directory, "*.cs"))
            yield return file;
        foreach (var sub in Directory.EnumerateDirectories(directory))
        {
            if (Skipped.Contains(Path.GetFileName(sub)))
                continue;
            foreach (var file in Paths(sub))
                yield return file;
        }
    }

    public static IReadOnlyList<SyntaxTree> Parse()
    {
        var root = RepoRoot();
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        return Paths(root)
            .Select(path => CSharpSyntaxTree.ParseText(File.ReadAllText(path), options,
                Path.GetRelativePath(root, path)))
            .ToList();
    }
}
