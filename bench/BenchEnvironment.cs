// What every benchmark harness here needs: its command-line options and the repository root (for bench/results and
// ../shared). Compiled into each harness project (see their .csproj).
namespace FineTune.Benchmarks;

static class BenchEnvironment
{
    public static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "global.json")))
                return dir.FullName;
        return Directory.GetCurrentDirectory();
    }
}
