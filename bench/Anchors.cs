// Other implementations measured by the benchmarks themselves, in the same window as ours, on the same shape:
// - llama2.c (github.com/karpathy/llama2.c, a checkout given by --llama2c DIR): run.c compiled here with gcc as its
//   Makefile's `runfast` (1 thread) and `runomp` (OpenMP, 2 threads), fed a random-weight checkpoint of the shape in
//   its own format; its "achieved tok/s" over 256 greedy tokens.
// - llama.cpp through npm's node-llama-cpp 3.21.1, with the harness in ../shared/anchors/llamacpp (its README has the
//   caveats of its 2-thread mode): GGUF files of the stories15M shape in F32, F16 and Q8_0; batch-1 decode, 16
//   parallel sequences and a 128-token prefill, wall clock and llama.cpp's own decode timing. Installed and generated
//   on first use under ~/.local/share/finetune/anchors/llamacpp, outside the repository (npm; python3 with numpy).
// An anchor that cannot run is reported as skipped, with the reason, never as a number.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FineTune.Models;

namespace FineTune.Benchmarks;

static partial class Anchors
{
    /// <summary>llama2.c's decode tokens/s (median, min, max of <paramref name="runs"/>) for 1 and 2 threads, or a
    /// skipped entry.</summary>
    public static JsonArray Llama2c(string? source, LlamaConfig shape, int runs)
    {
        var results = new JsonArray();
        if (source is null || !File.Exists(Path.Combine(source, "run.c"))
            || !File.Exists(Path.Combine(source, "tokenizer.bin")))
        {
            results.Add(Skipped("llama2.c", source is null ? "no --llama2c DIR given (a llama2.c checkout)"
                : $"{source} has no run.c and tokenizer.bin"));
            return results;
        }
        var work = Directory.CreateTempSubdirectory("finetune-llama2c-").FullName;
        try
        {
            var model = Path.Combine(work, "model.bin");
            WriteLlama2cCheckpoint(model, shape);
            foreach (var (name, threads, flags) in new[] { ("runfast", 1, "-Ofast -march=native"),
                         ("runomp", 2, "-Ofast -fopenmp -march=native") })
            {
                var binary = Path.Combine(work, name);
                var (code, output) = Run("gcc", $"{flags} -o {binary} {Path.Combine(source, "run.c")} -lm", work);
                if (code != 0)
                {
                    results.Add(Skipped($"llama2.c {name}", $"gcc failed: {output.Trim()}"));
                    continue;
                }
                var rates = new List<double>();
                for (int r = 0; r < runs + 1; r++)
                {
                    var (runCode, text) = Run(binary,
                        $"{model} -z {Path.Combine(source, "tokenizer.bin")} -n 256 -t 0 -s {r + 1}", work,
                        ("OMP_NUM_THREADS", threads.ToString()));
                    var match = AchievedRegex().Match(text);
                    if (runCode != 0 || !match.Success)
                        throw new InvalidOperationException($"llama2.c {name} failed ({runCode}): {text}");
                    if (r > 0)  // the first run warms the page cache
                        rates.Add(double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
                }
                rates.Sort();
                results.Add(new JsonObject
                {
                    ["implementation"] = $"llama2.c run.c ({name}: gcc {flags})", ["weights"] = "float32",
                    ["measure"] = "decode", ["batch"] = 1, ["threads"] = threads, ["steps"] = 256,
                    ["tokens_per_second_median"] = Math.Round(rates[rates.Count / 2], 1),
                    ["tokens_per_second_min"] = Math.Round(rates[0], 1),
                    ["tokens_per_second_max"] = Math.Round(rates[^1], 1),
                });
            }
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
        return results;
    }

    // llama2.c's legacy checkpoint: 7 int32 (dim, hidden, layers, heads, kv heads, vocab — negative when the
    // classifier is separate — and sequence length), then float32 tensors in its order. Random values: only the shape
    // matters.
    static void WriteLlama2cCheckpoint(string path, LlamaConfig c)
    {
        int dim = c.HiddenSize, hidden = c.IntermediateSize, layers = c.NumHiddenLayers, heads = c.NumAttentionHeads;
        int kvHeads = c.NumKeyValueHeads, headSize = dim / heads, kvDim = kvHeads * headSize;
        int seq = c.MaxPositionEmbeddings, vocab = c.VocabSize;
        using var writer = new BinaryWriter(File.Create(path));
        foreach (var value in new[] { dim, hidden, layers, heads, kvHeads, c.TieWordEmbeddings ? vocab : -vocab, seq })
            writer.Write(value);
        var rng = new Random(22);
        void Tensor(long count, float? constant = null)
        {
            for (long i = 0; i < count; i++)
                writer.Write(constant ?? (float)((rng.NextDouble() - 0.5) * 0.04));
        }
        Tensor((long)vocab * dim);
        Tensor((long)layers * dim, 1f);
        Tensor((long)layers * dim * dim);
        Tensor((long)layers * dim * kvDim);
        Tensor((long)layers * dim * kvDim);
        Tensor((long)layers * dim * dim);
        Tensor((long)layers * dim, 1f);
        Tensor((long)layers * hidden * dim);
        Tensor((long)layers * dim * hidden);
        Tensor((long)layers * hidden * dim);
        Tensor(dim, 1f);
        Tensor((long)seq * headSize / 2, 1f);   // the unused RoPE tables of the legacy format
        Tensor((long)seq * headSize / 2, 0f);
        if (!c.TieWordEmbeddings)
            Tensor((long)vocab * dim);
    }

    /// <summary>llama.cpp (node-llama-cpp) on GGUF files of the stories15M shape: one entry per format and measure,
    /// or a skipped entry.</summary>
    public static JsonArray LlamaCpp(string repoRoot, int threads, int runs)
    {
        var results = new JsonArray();
        var harness = Path.GetFullPath(Path.Combine(repoRoot, "..", "shared", "anchors", "llamacpp"));
        if (!File.Exists(Path.Combine(harness, "bench.mjs")))
        {
            results.Add(Skipped("llama.cpp", $"{harness} not found"));
            return results;
        }
        var work = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "finetune",
            "anchors", "llamacpp");
        Directory.CreateDirectory(work);
        foreach (var file in new[] { "bench.mjs", "make_gguf.py" })
        {
            var copy = Path.Combine(work, file);
            if (File.Exists(copy))
                File.SetAttributes(copy, FileAttributes.Normal);    // copied read-only from ../shared
            File.Copy(Path.Combine(harness, file), copy, overwrite: true);
        }
        if (!Directory.Exists(Path.Combine(work, "node_modules", "node-llama-cpp")))
        {
            var (code, text) = Run("npm", "i -E --no-audit --no-fund node-llama-cpp@3.21.1", work);
            if (code != 0)
            {
                results.Add(Skipped("llama.cpp", $"npm i node-llama-cpp@3.21.1 failed: {Tail(text)}"));
                return results;
            }
        }
        foreach (var format in new[] { "f32", "f16", "q8_0" })
        {
            if (File.Exists(Path.Combine(work, $"model-{format}.gguf")))
                continue;
            var (code, text) = Run(File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3",
                $"make_gguf.py model-{format}.gguf {format}", work);
            if (code != 0)
            {
                results.Add(Skipped("llama.cpp", $"make_gguf.py failed (numpy needed): {Tail(text)}"));
                return results;
            }
        }
        var (exit, output) = Run("node", "bench.mjs f32 f16 q8_0", work, ("THREADS", threads.ToString()),
            ("RUNS", runs.ToString()));
        if (exit != 0)
        {
            results.Add(Skipped("llama.cpp", $"node bench.mjs failed: {Tail(output)}"));
            return results;
        }
        var release = ReleaseRegex().Match(output) is { Success: true } m ? m.Groups[1].Value : "(release unknown)";
        // | f32 | 262.1 (runs) [309] | 359.0 (runs) [378] | 4272.0 (runs) [4300] |
        foreach (Match row in TableRowRegex().Matches(output))
        {
            string format = row.Groups[1].Value;
            foreach (var (measure, batch, group) in new[] { ("decode", 1, 2), ("decode", 16, 4), ("prefill", 1, 6) })
            {
                double wall = double.Parse(row.Groups[group].Value, CultureInfo.InvariantCulture);
                var entry = new JsonObject
                {
                    ["implementation"] = $"llama.cpp {release} via node-llama-cpp 3.21.1 (prebuilt, CPU)",
                    ["weights"] = format, ["measure"] = measure, ["batch"] = batch, ["threads"] = threads,
                    ["tokens_per_second_median"] = double.IsNaN(wall) ? null : wall,
                };
                if (double.TryParse(row.Groups[group + 1].Value, CultureInfo.InvariantCulture, out var own))
                    entry["llama_cpp_own_timing_tokens_per_second"] = own;
                results.Add(entry);
            }
        }
        if (results.Count == 0)
            results.Add(Skipped("llama.cpp", $"no result table in its output: {Tail(output)}"));
        return results;
    }

    static JsonObject Skipped(string implementation, string why) =>
        new() { ["implementation"] = implementation, ["skipped"] = why };

    static string Tail(string text) => text.Length <= 400 ? text.Trim() : text[^400..].Trim();

    static (int Code, string Output) Run(string file, string arguments, string directory,
        params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        try
        {
            using var process = Process.Start(start)!;
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, $"{file}: {e.Message}");
        }
    }

    [GeneratedRegex(@"achieved tok/s: ([\d.]+)")]
    private static partial Regex AchievedRegex();

    [GeneratedRegex(@"^\| (\w+) \| ([\d.]+|NaN) \([^)]*\) \[([\d]+|NaN)\] \| ([\d.]+|NaN) \([^)]*\) " +
        @"\[([\d]+|NaN)\] \| ([\d.]+|NaN) \([^)]*\) \[([\d]+|NaN)\] \|", RegexOptions.Multiline)]
    private static partial Regex TableRowRegex();

    [GeneratedRegex("\"release\":\"([^\"]+)\"")]
    private static partial Regex ReleaseRegex();
}
