// Throughput of `data prepare` on a generated JSONL: validation + cleaning + exact de-dup (near-dup off), then the
// whole stage with near-dup on; MB/s of input and the process's peak working set. Writes bench/results/prepare.json.
using System.Diagnostics;
using System.Text.Json;
using FineTune.Data;
using FineTune.Data.Cleaning;

namespace FineTune.DataBench;

static class PrepareBench
{
    public static async Task RunAsync(int megabytes, string outPath)
    {
        var input = Path.Combine(Path.GetTempPath(), $"finetune-prepare-bench-{megabytes}mb.jsonl");
        if (!File.Exists(input))
            Generate(input, megabytes * 1024L * 1024);
        long bytes = new FileInfo(input).Length;
        var results = new List<object>();
        foreach (var (name, options) in new[]
        {
            ("validate+clean+exact-dedup",
                new PrepareOptions { NearDuplicates = new NearDuplicateOptions { Enabled = false } }),
            ("validate+clean+exact+near-dedup", new PrepareOptions()),
        })
        {
            var outDir = Directory.CreateTempSubdirectory("finetune-prepare-bench-").FullName;
            var sw = Stopwatch.StartNew();
            var result = await DatasetPreparer.PrepareAsync(input, outDir, options);
            double seconds = sw.Elapsed.TotalSeconds;
            long peak = Process.GetCurrentProcess().PeakWorkingSet64;
            Console.WriteLine($"{name}: {bytes / 1e6:F0} MB in {seconds:F1} s = {bytes / 1e6 / seconds:F1} MB/s, " +
                $"{result.Counts.Input:N0} records " +
                $"({result.Counts.ExactDuplicates:N0} exact, {result.Counts.NearDuplicates:N0} near), peak working " +
                    $"set {peak / 1e6:F0} MB");
            results.Add(new
            {
                stage = name, megabytes = Math.Round(bytes / 1e6, 1), seconds = Math.Round(seconds, 2),
                megabytesPerSecond = Math.Round(bytes / 1e6 / seconds, 2), records = result.Counts.Input,
                exactDuplicates = result.Counts.ExactDuplicates, nearDuplicates = result.Counts.NearDuplicates,
                peakWorkingSetMegabytes = Math.Round(peak / 1e6)
            });
            Directory.Delete(outDir, recursive: true);
        }
        var report = new
        {
            benchmark =
                "finetune data prepare on a generated chat JSONL (~1 KB records; 2% repeat an earlier prompt, exact " +
                "duplicates when the short answer also matches, 2% add one word to an earlier prompt), one run " +
                "each; peak working set is the process's, cumulative",
            cores = Environment.ProcessorCount,
            runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            results,
        };
        File.WriteAllText(outPath,
            JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        Console.WriteLine($"wrote {outPath}");
    }

    // Chat records of ~150 random words; every 50th repeats an earlier prompt, every 50th (offset 25) adds a word to
    // one.
    static void Generate(string path, long targetBytes)
    {
        var random = new Random(1);
        var words = Enumerable.Range(0, 20000).Select(i => $"w{i:x}").ToArray();
        var earlier = new List<string>();
        using var writer = new StreamWriter(path);
        long written = 0;
        for (long n = 0; written < targetBytes; n++)
        {
            string user;
            if (n % 50 == 0 && earlier.Count > 0)
                user = earlier[random.Next(earlier.Count)];
            else if (n % 50 == 25 && earlier.Count > 0)
                user = earlier[random.Next(earlier.Count)] + " please";
            else
            {
                user = string.Join(' ', Enumerable.Range(0, 150).Select(_ => words[random.Next(words.Length)]));
                if (earlier.Count < 10000)
                    earlier.Add(user);
            }
            var line = JsonSerializer.Serialize(new
            {
                messages = new[] { new { role = "user", content = user },
                new { role = "assistant", content = "ok " + (n % 7) } }
            });
            writer.WriteLine(line);
            written += line.Length + 1;
        }
    }
}
