// Tokens/s of our Llama 2 SentencePiece encoder over GSM8K train (question + "\n" + answer), 1 and 2 threads.
// Run: dotnet run -c Release --project bench/FineTune.DataBench [-- <shared/data dir>]  → bench/results/tokenize.json
//      dotnet run -c Release --project bench/FineTune.DataBench -- prepare [--mb 200]   → bench/results/prepare.json
using System.Diagnostics;
using System.Text.Json;
using FineTune.DataBench;
using FineTune.Text;

if (args.Length > 0 && args[0] == "prepare")
{
    int i = Array.IndexOf(args, "--mb");
    await PrepareBench.RunAsync(i > 0 ? int.Parse(args[i + 1]) : 200,
        Path.Combine(FindRepo(), "bench", "results", "prepare.json"));
    return;
}

string data = args.Length > 0 ? args[0] : Path.GetFullPath(Path.Combine(FindRepo(), "..", "shared", "data"));
string model = Path.Combine(data, "models", "llama2-tokenizer", "tokenizer.model");
var texts = File.ReadLines(Path.Combine(data, "gsm8k", "train.jsonl")).Select(line =>
{
    using var doc = JsonDocument.Parse(line);
    return doc.RootElement.GetProperty("question").GetString() + "\n"
        + doc.RootElement.GetProperty("answer").GetString();
}).ToArray();
// The SentencePiece encoder caches word encodings, so each timed pass gets a fresh tokenizer (cold cache: what
// tokenizing a dataset once costs); "warm" re-encodes the same text with the cache filled.
long Encode(TextTokenizer tokenizer, int threads)
{
    long total = 0;
    Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = threads }, () => 0L,
        (i, _, sum) => sum + tokenizer.Encode(texts[i]).Count, sum => Interlocked.Add(ref total, sum));
    return total;
}

var results = new List<object>();
foreach (int threads in new[] { 1, 2 })
{
    Encode(TokenizerLoader.Load(model), threads);   // warm-up (JIT, tiered compilation)
    double cold = double.MaxValue, warm = double.MaxValue;
    long tokens = 0;
    for (int rep = 0; rep < 5; rep++)
    {
        var tokenizer = TokenizerLoader.Load(model);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var sw = Stopwatch.StartNew();
        tokens = Encode(tokenizer, threads);
        cold = Math.Min(cold, sw.Elapsed.TotalSeconds);
        sw.Restart();
        Encode(tokenizer, threads);
        warm = Math.Min(warm, sw.Elapsed.TotalSeconds);
    }
    Console.WriteLine($"{threads} thread(s): {tokens:N0} tokens, cold cache {cold:F3} s = {tokens / cold / 1e6:F2} " +
        $"M tokens/s, warm {tokens / warm / 1e6:F2} M tokens/s");
    results.Add(new
    {
        threads, texts = texts.Length, tokens, coldSeconds = Math.Round(cold, 4),
        coldTokensPerSecond = Math.Round(tokens / cold),
        warmSeconds = Math.Round(warm, 4), warmTokensPerSecond = Math.Round(tokens / warm)
    });
}

string outPath = Path.Combine(FindRepo(), "bench", "results", "tokenize.json");
var report = new
{
    benchmark =
        "Llama 2 SentencePiece encode, GSM8K train question + \"\\n\" + answer, best of 5 after a warm-up; cold = " +
        "fresh tokenizer (empty word cache)",
    cores = Environment.ProcessorCount,
    runtime = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
    results,
};
File.WriteAllText(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.WriteLine($"wrote {outPath}");

static string FindRepo()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        if (File.Exists(Path.Combine(dir.FullName, "global.json")))
            return dir.FullName;
    throw new DirectoryNotFoundException("run from inside the repository (global.json not found above the binary)");
}
