// Decode and prefill throughput of the inference engines on a fixed number of threads; writes JSON. Engines: cpu
// (CpuLlama, float32 weights), cpu-bf16 (CpuLlama, bfloat16 weights, float32 KV cache), cpu-bf16kv (bfloat16 weights
// and KV cache), torch (the reference engine, float32).
// Run: dotnet run -c Release --project bench/FineTune.Bench -- [--threads 2] [--out bench/results/decode.json]
// [--engines cpu,cpu-bf16,torch] [--llama2c DIR] [--no-anchors]; --kernels: the matrix kernels alone (KernelBench.cs).
// Models: stories260K from ../shared/data (skipped if absent) and a random-weight model of the stories15M shape. After
// ours, the anchors on the stories15M shape in the same window (bench/Anchors.cs): llama2.c from a checkout given by
// --llama2c, and llama.cpp (1 thread: its 2-thread mode busy-waits here, see ../shared/anchors/llamacpp/README.md).
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Benchmarks;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Models.Inference;
using FineTune.Torch;

int threads = Arg("--threads", "2") is var t ? int.Parse(t) : 2;
string output = Arg("--out", Path.Combine(RepoRoot(), "bench", "results", "decode.json"));
string[] engines = Arg("--engines", "cpu,cpu-bf16,torch").Split(',');
int repeats = int.Parse(Arg("--repeats", "3"));
TorchSharp.torch.set_num_threads(threads);
if (args.Contains("--kernels"))
{
    var kernels = FineTune.Bench.KernelBench.Run();
    var kernelsOut = Arg("--out", Path.Combine(RepoRoot(), "bench", "results", "kernels.json"));
    File.WriteAllText(kernelsOut, kernels.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    Console.WriteLine($"wrote {kernelsOut}");
    return 0;
}
if (args.Contains("--eval"))
{
    await FineTune.Bench.EvalBench.RunAsync(Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "data")), threads,
        Path.Combine(RepoRoot(), "bench", "results", "eval.json"));
    return 0;
}

var models = new List<(string Name, LlamaConfig Config, IReadOnlyList<TensorData> Tensors)>();
var stories = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "data", "models", "stories260K",
    "stories260K.bin"));
if (File.Exists(stories))
{
    var (config, tensors) = Llama2cCheckpoint.Read(stories);
    models.Add(("stories260K", config, tensors));
}
else
    Console.Error.WriteLine($"skipping stories260K: {stories} not found");
var shape15M = new LlamaConfig
{
    HiddenSize = 288, IntermediateSize = 768, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 6,
    VocabSize = 32000, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TieWordEmbeddings = true,
};
models.Add(("stories15M-shape (random weights)", shape15M, LlamaWeights.Random(shape15M, seed: 15)));

var results = new JsonArray();
// Engines outer, models inner: libtorch's threads keep spinning a while after its calls, so the torch engine (last by
// default) must not run between two of ours.
foreach (var engineName in engines)
{
    foreach (var (name, config, tensors) in models)
    {
        var byName = tensors.ToDictionary(x => x.Name);
        using ICausalLm engine = engineName switch
        {
            "cpu" => CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Threads = threads, Bf16 = false }),
            "cpu-bf16" => CpuLlama.Load(config, n => byName[n],
                new CpuLlamaOptions { Threads = threads, Bf16 = true, Bf16KvCache = false }),
            "cpu-bf16kv" => CpuLlama.Load(config, n => byName[n],
                new CpuLlamaOptions { Threads = threads, Bf16 = true, Bf16KvCache = true }),
            "torch" => new TorchLlamaEngine(LlamaCheckpoints.Load(config, tensors)),
            _ => throw new ArgumentException($"unknown engine '{engineName}' (cpu, cpu-bf16, cpu-bf16kv, torch)"),
        };
        int context = config.MaxPositionEmbeddings;
        int promptLength = Math.Min(128, context / 2);
        int decodeSteps = Math.Min(128, context - 1 - 1);
        // Batch 1 and batch 16 alternate, so the VM's drift (±30% within an hour here) moves both alike; the scaling
        // is the median of the pairs' ratios.
        DecodeTokensPerSecond(engine, 1, decodeSteps, config.VocabSize); // warm-up: JIT, caches, thread pool
        DecodeTokensPerSecond(engine, 16, decodeSteps, config.VocabSize);
        var pairs = Enumerable.Range(0, repeats).Select(_ => (
            One: DecodeTokensPerSecond(engine, 1, decodeSteps, config.VocabSize),
            Sixteen: DecodeTokensPerSecond(engine, 16, decodeSteps, config.VocabSize))).ToList();
        foreach (int batch in new[] { 1, 16 })
        {
            double decode = MedianOf(pairs.Select(p => batch == 1 ? p.One : p.Sixteen));
            var entry = new JsonObject
            {
                ["model"] = name, ["engine"] = engineName, ["measure"] = "decode", ["batch"] = batch,
                ["threads"] = threads,
                ["tokens_per_step"] = batch, ["steps"] = decodeSteps, ["tokens_per_second"] = Math.Round(decode, 1),
            };
            if (batch == 16)
            {
                var ratios = pairs.Select(p => p.Sixteen / p.One).Order().ToList();
                entry["batch16_over_batch1"] = Math.Round(MedianOf(ratios), 2);
                entry["batch16_over_batch1_range"] = new JsonArray(Math.Round(ratios[0], 2), Math.Round(ratios[^1], 2));
            }
            results.Add(entry);
            Console.WriteLine($"{name,-34} {engineName,-6} decode  batch {batch,2}: {decode,10:N0} tok/s" +
                (batch == 16 ? $" ({entry["batch16_over_batch1"]}× batch 1)" : ""));
        }
        double prefill = Median(repeats, () => PrefillTokensPerSecond(engine, promptLength, config.VocabSize));
        results.Add(new JsonObject
        {
            ["model"] = name, ["engine"] = engineName, ["measure"] = "prefill", ["batch"] = 1, ["threads"] = threads,
            ["prompt_tokens"] = promptLength, ["tokens_per_second"] = Math.Round(prefill, 1),
        });
        Console.WriteLine($"{name,-34} {engineName,-6} prefill {promptLength} tokens: {prefill,8:N0} tok/s");
    }
}

var anchors = new JsonArray();
if (!args.Contains("--no-anchors"))
{
    foreach (var entry in Anchors.Llama2c(Arg("--llama2c", null!), shape15M, repeats).ToList())
        anchors.Add(entry!.DeepClone());
    foreach (var entry in Anchors.LlamaCpp(RepoRoot(), threads: 1, runs: repeats).ToList())
        anchors.Add(entry!.DeepClone());
    foreach (var entry in anchors)
        Console.WriteLine(entry!.ToJsonString());
}

var report = new JsonObject
{
    ["benchmark"] = "decode and prefill throughput, float32 and bfloat16 weights, beside llama2.c and llama.cpp",
    ["date"] = DateTime.UtcNow.ToString("O"),
    ["machine"] = new JsonObject
    {
        ["processors"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
    },
    ["method"] =
        $"median of {repeats} runs after one warm-up; decode: 1 BOS token prefilled, then greedy-free steps feeding " +
        $"fixed ids, batch 1 and batch 16 runs alternating, batch16_over_batch1 the median of the {repeats} pairs' " +
        $"ratios; prefill: one prompt, batch 1",
    ["results"] = results,
    ["anchors"] = anchors,
};
Directory.CreateDirectory(Path.GetDirectoryName(output)!);
File.WriteAllText(output, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.WriteLine($"wrote {output}");
return 0;

// Decode: prefill one token per row, then `steps` single-token steps; counts batch * steps generated tokens.
static double DecodeTokensPerSecond(ICausalLm engine, int batch, int steps, int vocab)
{
    using var session = engine.StartSession(batch, steps + 1);
    session.Prefill(Enumerable.Range(0, batch).Select(b => (IReadOnlyList<int>)[1]).ToList());
    var tokens = new int[batch];
    var clock = Stopwatch.StartNew();
    for (int s = 0; s < steps; s++)
    {
        for (int b = 0; b < batch; b++)
            tokens[b] = (s * 31 + b * 17 + 3) % vocab;
        session.Step(tokens);
    }
    return batch * steps / clock.Elapsed.TotalSeconds;
}

static double PrefillTokensPerSecond(ICausalLm engine, int length, int vocab)
{
    var prompt = Enumerable.Range(0, length).Select(i => (i * 7 + 1) % vocab).ToArray();
    using var session = engine.StartSession(1, length);
    var clock = Stopwatch.StartNew();
    session.Prefill([prompt]);
    return length / clock.Elapsed.TotalSeconds;
}

static double Median(int repeats, Func<double> run)
{
    run(); // warm-up: JIT, caches, thread pool
    return MedianOf(Enumerable.Range(0, repeats).Select(_ => run()));
}

static double MedianOf(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted[sorted.Length / 2];
}

string Arg(string name, string fallback) => BenchEnvironment.Arg(args, name, fallback);

static string RepoRoot() => BenchEnvironment.RepoRoot();
