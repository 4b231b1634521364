// Training benchmark: tokens/s, peak memory and model-FLOPs utilisation of the training loop (the real Trainer over
// real shards) for full fine-tuning, LoRA r=8 on q,v and QLoRA r=8 on q,v, float32 and bf16 autocast, on the
// stories15M shape (dim 288, hidden 768, 6 layers, 6 heads, vocab 32000, untied head), batch 8 × 256 tokens, and the
// 110M shape (dim 768, hidden 2048, 12 layers, 12 heads, vocab 32000, tied head), batch 4 × 512 (full and LoRA);
// beside PyTorch running the same models (bench/pytorch/train_bench.py, float32 and bf16 autocast) when python3 has
// torch. MFU against the measured float32 matmul peak, and for bf16 runs against the bf16 peak too. Each case runs in
// its own process, so peak memory is that case's alone. Writes bench/results/train.json.
// Run: dotnet run -c Release --project bench/FineTune.TrainBench -- [--threads 2] [--steps 6] [--shapes 15M,110M]
// [--out FILE]
// With --rl: GRPO and PPO rollout and optimisation throughput instead (RlCase), into bench/results/rl.json. With
// --gemms [--shapes 15M|110M]: the step's matrix products alone (GemmProfile), into bench/results/train-gemms.json.
// With --peak: the matmul peak alone, size by size (how steady it is on a shared machine).
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Benchmarks;
using FineTune.Torch;
using FineTune.TrainBench;

// Measure what `finetune train` runs: the CLI sets OpenMP's passive wait policy before libtorch loads
// (TorchProcess.Configure), and the cases, child processes, inherit it. PyTorch runs with what the user had.
string? userWaitPolicy = Environment.GetEnvironmentVariable(TorchProcess.WaitPolicy);
TorchProcess.Configure();
int threads = int.Parse(Arg("--threads", "2"));
int steps = int.Parse(Arg("--steps", "6"));
if (Arg("--case", "") is { Length: > 0 } single)
{
    Console.WriteLine((single.StartsWith("rl:", StringComparison.Ordinal) ? RlCase.Run(single, threads, steps)
        : TrainingCase.Run(single, threads, steps)).ToJsonString());
    return 0;
}
if (args.Contains("--peak"))
{
    // The matmul peak alone, size by size: how steady this machine's peak is between calls
    foreach (var dtype in new[] { TorchSharp.torch.ScalarType.BFloat16, TorchSharp.torch.ScalarType.Float32 })
        MatmulPeak.Best(dtype, threads, (n, gflops) => Console.WriteLine($"{dtype} {n}: {gflops:F1} GFLOP/s"));
    return 0;
}
if (args.Contains("--gemms"))
{
    // The step's matrix products one by one (GemmProfile): the ceiling libtorch's GEMMs put on MFU
    var (gemmShape, gemmBatch, gemmTokens) = TrainingCase.ShapeOf(Arg("--shapes", "15M").Split(',')[0]);
    var gemms = GemmProfile.Measure(gemmShape, gemmBatch * gemmTokens, threads);
    string gemmOutput = Arg("--out", Path.Combine(RepoRoot(), "bench", "results", "train-gemms.json"));
    File.WriteAllText(gemmOutput, gemms.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    Console.Error.WriteLine($"wrote {gemmOutput}");
    return 0;
}
if (args.Contains("--rl"))
{
    // GRPO and PPO: rollout and optimisation throughput; writes bench/results/rl.json
    string rlOutput = Arg("--out", Path.Combine(RepoRoot(), "bench", "results", "rl.json"));
    var cases = new JsonArray();
    foreach (var name in new[] { "grpo:tiny", "ppo:tiny", "grpo:stories15M", "ppo:stories15M" }
        .SelectMany(c => new[] { $"rl:{c}:cpu", $"rl:{c}:torch" }))
    {
        var result = JsonNode.Parse(RunSelf(name, threads, Math.Min(steps, 3)))!.AsObject();
        Console.Error.WriteLine($"{name}: rollout {result["rollout_tokens_per_second_median"]} tok/s, optimisation " +
            $"{result["optimisation_tokens_per_second_median"]} tok/s, generation " +
            $"{result["generation_share_of_step_median"]} of a step");
        cases.Add(result);
    }
    var rl = new JsonObject
    {
        ["benchmark"] = "GRPO and PPO throughput: rollout (sampling) and optimisation tokens/s, generation's share",
        ["threads"] = threads, ["machine"] = Machine(), ["results"] = cases,
    };
    File.WriteAllText(rlOutput, rl.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    Console.Error.WriteLine($"wrote {rlOutput}");
    return 0;
}
string output = Arg("--out", Path.Combine(RepoRoot(), "bench", "results", "train.json"));
var peak = MatmulPeak.Measure(threads);
Console.Error.WriteLine($"float32 matmul peak {peak["float32_gflops"]} GFLOP/s, bfloat16 {peak["bfloat16_gflops"]} " +
    $"GFLOP/s ({threads} threads)");
var results = new JsonArray();
string[] shapes = Arg("--shapes", "15M,110M").Split(',');
foreach (var shape in shapes)
{
    string[] cases = shape == "15M"
        ? ["full:float32", "lora:float32", "qlora:float32", "full:bf16", "lora:bf16", "qlora:bf16"]
        : ["full:float32", "full:bf16", "lora:bf16"];
    // the 110M shape's steps are 8 times the work: fewer of them
    int shapeSteps = shape == "15M" ? steps : Math.Max(3, steps / 2);
    foreach (var name in cases)
    {
        var result = JsonNode.Parse(RunSelf($"{name}:{shape}", threads, shapeSteps))!.AsObject();
        AddUtilisation(result, result["model_flops_per_token"]!.GetValue<double>());
        results.Add(result);
    }
    foreach (var name in new[] { "full:float32", "full:bf16", "lora:float32", "lora:bf16" })
    {
        var (method, precision) = (name.Split(':')[0], name.Split(':')[1]);
        if (shape != "15M" && name == "lora:float32")
            continue;
        if (PyTorch(method, precision, shape, threads, shapeSteps) is not { } torchResult)
            continue;
        var (config, _, tokens) = TrainingCase.ShapeOf(shape);
        AddUtilisation(torchResult, TrainingCase.FlopsPerToken(config, tokens, method == "full",
            torchResult["trainable_parameters"]!.GetValue<long>()));
        results.Add(torchResult);
    }
}

void AddUtilisation(JsonObject result, double flopsPerToken)
{
    double flops = flopsPerToken * result["tokens_per_second_median"]!.GetValue<double>();
    result["model_flops_per_token"] = flopsPerToken;
    result["achieved_gflops"] = Math.Round(flops / 1e9, 1);
    result["mfu_vs_float32_peak"] = Math.Round(flops / 1e9 / peak["float32_gflops"]!.GetValue<double>(), 3);
    if (result["precision"]?.GetValue<string>() == "bf16")
        result["mfu_vs_bfloat16_peak"] = Math.Round(flops / 1e9 / peak["bfloat16_gflops"]!.GetValue<double>(), 3);
    if (result["bfloat16_peak_gflops_in_case"]?.GetValue<double>() is { } casePeak)
        result["mfu_vs_bfloat16_peak_in_case"] = Math.Round(flops / 1e9 / casePeak, 3);
    Console.Error.WriteLine($"{result["implementation"]} {result["method"]} {result["precision"]} {result["shape"]}: " +
        $"{result["tokens_per_second_median"]} tokens/s, {result["achieved_gflops"]} GFLOP/s, MFU " +
        $"{result["mfu_vs_bfloat16_peak"] ?? result["mfu_vs_float32_peak"]}" +
        (result["mfu_vs_bfloat16_peak_in_case"] is { } inCase ? $" ({inCase} against the case's own peak)" : "") +
        $", peak {result["peak_rss_mib"]} MiB");
}
var document = new JsonObject
{
    ["benchmark"] = "training throughput: stories15M shape, batch 8 x 256 tokens; 110M shape, batch 4 x 512",
    ["threads"] = threads, ["timed_steps"] = steps, ["machine"] = Machine(), ["matmul_peak"] = peak,
    ["results"] = results,
    ["flops_note"] =
        "model FLOPs per token: 6·N (full) or 4·N + 6·N_adapter (frozen base: forward and input gradients only) " +
        "over the " +
                     "N matmul weights (projections + LM head, not the embedding), plus causal-free attention " +
                         "12·L·T·d (PaLM's count)",
};
Directory.CreateDirectory(Path.GetDirectoryName(output)!);
File.WriteAllText(output, document.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.Error.WriteLine($"wrote {output}");
return 0;

string RunSelf(string name, int threads, int steps)
{
    var self = Environment.ProcessPath!;
    var start = new ProcessStartInfo(self) { RedirectStandardOutput = true };
    if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        start.ArgumentList.Add(typeof(TrainingCase).Assembly.Location);
    foreach (var a in new[] { "--case", name, "--threads", threads.ToString(), "--steps", steps.ToString() })
        start.ArgumentList.Add(a);
    using var process = Process.Start(start)!;
    var text = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
        throw new InvalidOperationException($"case {name} failed with exit code {process.ExitCode}");
    return text.Trim().Split('\n')[^1];
}

JsonObject? PyTorch(string method, string precision, string shape, int threads, int steps)
{
    var script = Path.Combine(RepoRoot(), "bench", "pytorch", "train_bench.py");
    // Debian's python3-torch lives under /usr/bin/python3; a python3 earlier on PATH (pyenv, venv) may lack it.
    var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
    var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
    if (userWaitPolicy is null)
        start.Environment.Remove(TorchProcess.WaitPolicy);
    foreach (var a in new[] { script, "--method", method, "--precision", precision, "--shape", shape, "--threads",
        threads.ToString(), "--steps", steps.ToString() })
        start.ArgumentList.Add(a);
    try
    {
        using var process = Process.Start(start)!;
        var text = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode == 0)
            return JsonNode.Parse(text.Trim().Split('\n')[^1])!.AsObject();
        Console.Error.WriteLine($"skipping PyTorch {method}: {error.Trim().Split('\n')[^1]} (apt-get install " +
            $"python3-torch libopenblas0-pthread)");
    }
    catch (System.ComponentModel.Win32Exception)
    {
        Console.Error.WriteLine("skipping PyTorch: python3 not found");
    }
    return null;
}

static JsonObject Machine()
{
    string cpu = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l =>
        l.StartsWith("model name"))?.Split(':')[1].Trim() ?? "" : "";
    return new JsonObject
    {
        ["cpu"] = cpu, ["logical_cores"] = Environment.ProcessorCount,
        ["dotnet"] = Environment.Version.ToString(),
        ["omp_wait_policy"] = TorchProcess.NativeValue(TorchProcess.WaitPolicy),
    };
}

string Arg(string name, string fallback) => BenchEnvironment.Arg(args, name, fallback);

static string RepoRoot() => BenchEnvironment.RepoRoot();
