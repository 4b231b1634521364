// Locates the shared test data folder (<repo>/../shared/data) that lives beside the repository, not inside it.
namespace FineTune.Models.Tests;

internal static class SharedData
{
    /// <summary>The repository root: the nearest folder above the test binaries holding global.json.</summary>
    public static string RepoRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "global.json"))) return dir.FullName;
            throw new InvalidOperationException($"no global.json above {AppContext.BaseDirectory}");
        }
    }

    public static string Root => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "data"));

    /// <summary>The path of a file under shared/data; skips the test when it is absent.</summary>
    public static string Require(string relative)
    {
        var path = Path.Combine(Root, relative);
        Skip.IfNot(File.Exists(path), $"shared test data not found: {path}");
        return path;
    }
}
