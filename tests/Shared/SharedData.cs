// Locates ../shared/data (real datasets, tokenizers and checkpoints read at test time, never copied into the repo).
// Tests that need it skip with a message when it is absent.
namespace FineTune.Tests;

public static class SharedData
{
    public static string? Root { get; } = Find();

    static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "global.json")))
            {
                var data = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "data"));
                return Directory.Exists(data) ? data : null;
            }
        return null;
    }

    /// <summary>Full path of a file or folder under ../shared/data; skips the test when it is absent.</summary>
    public static string File(string relative)
    {
        Skip.If(Root is null,
            "../shared/data is absent (clone the project beside its shared/ folder to run this test).");
        var path = Path.Combine(Root!, relative);
        Skip.IfNot(System.IO.File.Exists(path) || Directory.Exists(path), $"../shared/data/{relative} is absent.");
        return path;
    }
}
