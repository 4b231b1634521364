// Serving throughput and latency: the server in this process (2 kernel threads), concurrent streaming clients on
// loopback, the stories15M shape (random weights, Llama 2 tokenizer from ../shared), /v1/completions with
// temperature 0.8, 128 new tokens a request. Reports aggregate tokens/s and p50/p95 time to first token at 1, 4 and 16
// clients, float32 and int8, and int8's perplexity delta on held-out text of the tiny base model when it is cached.
// Run: dotnet run -c Release --project bench/FineTune.ServeBench -- [--out bench/results/serve.json] [--rounds 3]
// [--json-schema] (each request constrained to a ticket schema) [--release canary|shadow] (a LoRA candidate beside it)
// [--weights float32,bfloat16,...] [--llama2c DIR] (a llama2.c checkout: its run.c measured as the anchor)
// [--no-anchors]
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Benchmarks;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using FineTune.Serving;
using FineTune.Text;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

string output = BenchEnvironment.Arg(args, "--out",
    Path.Combine(BenchEnvironment.RepoRoot(), "bench", "results", "serve.json"));
int rounds = int.Parse(BenchEnvironment.Arg(args, "--rounds", "3"));
int[] levels = BenchEnvironment.Arg(args, "--clients", "1,4,16").Split(',').Select(int.Parse).ToArray();
// Configurations: float32; int8 weights; int8 weights with a bfloat16 KV cache.
// w8a8: int8 activations as well (AVX-VNNI). bfloat16 (and bfloat16+bf16kv): the weights held as bfloat16.
var configurations = BenchEnvironment.Arg(args, "--weights", "float32,int8,int8+bf16kv,w8a8+bf16kv").Split(',');
bool skipAccuracy = args.Contains("--no-accuracy");
// --release canary|shadow: a LoRA candidate released beside the base (canary: 20% of the callers; shadow: every request
// answered again in the background by the candidate); tokens/s counts what the clients receive
FineTune.Serving.Releases.ReleaseMode? release = BenchEnvironment.Arg(args, "--release", "") switch
{
    "canary" => FineTune.Serving.Releases.ReleaseMode.Canary,
    "shadow" => FineTune.Serving.Releases.ReleaseMode.Shadow,
    _ => null,
};
// --json-schema: every request asks for a JSON document of a ticket schema (constrained decoding on each token)
JsonNode? responseFormat = args.Contains("--json-schema") ? JsonNode.Parse("""
    {"type": "json_schema", "json_schema": {"name": "ticket", "schema": {"type": "object", "properties": {
      "category": {"enum": ["billing", "shipping", "other"]}, "priority": {"type": "integer"},
      "summary": {"type": "string", "maxLength": 200}, "tags": {"type": "array", "items": {"type": "string"}},
      "refund": {"type": ["number", "null"]}}, "required": ["category", "priority", "summary", "tags", "refund"],
      "additionalProperties": false}}}
    """) : null;
int threads = int.Parse(BenchEnvironment.Arg(args, "--threads", "2"));
const int NewTokens = 128;
var shared = Path.GetFullPath(Path.Combine(BenchEnvironment.RepoRoot(), "..", "shared", "data", "models",
    "llama2-tokenizer", "tokenizer.model"));
if (!File.Exists(shared))
{
    Console.Error.WriteLine($"needs the Llama 2 tokenizer at {shared}");
    return 1;
}

var dir = Path.Combine(Path.GetTempPath(), "serve-bench-stories15M");
Directory.CreateDirectory(dir);
var config = new LlamaConfig
{
    HiddenSize = 288, IntermediateSize = 768, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 6,
    VocabSize = 32000, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TieWordEmbeddings = true, BosTokenId = 1,
    EosTokenIds = [2],
};
if (!File.Exists(Path.Combine(dir, "config.json")))
{
    var tensors = LlamaWeights.Random(config, seed: 15);
    var byName = tensors.ToDictionary(t => t.Name);
    HfCheckpoint.Save(dir, config, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
    File.Copy(shared, Path.Combine(dir, "tokenizer.model"), overwrite: true);
}

// The server's own step measurements: how much of the wall time the engine is busy, and how full its batches are.
double stepSeconds = 0;
long steps = 0, sequences = 0;
using var listener = new System.Diagnostics.Metrics.MeterListener();
listener.InstrumentPublished = (instrument, l) =>
{
    if (instrument.Meter.Name == ServingMetrics.MeterName)
        l.EnableMeasurementEvents(instrument);
};
listener.SetMeasurementEventCallback<double>((instrument, value, _, _) =>
{
    if (instrument.Name == "serving.step_duration")
    {
        stepSeconds += value;
        steps++;
    }
});
listener.SetMeasurementEventCallback<int>((instrument, value, _, _) =>
{
    if (instrument.Name == "serving.batch_size")
        sequences += value;
});
listener.Start();

if (args.Contains("--no-host"))
{
    // The scheduler alone, without a web host in the process.
    using var m = new ServingMetrics();
    using var loaded = FineTune.Serving.Engine.LoadedModel.Load(dir,
        new ServingOptions { Threads = threads, Int8 = args.Contains("--int8") }, m,
        Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    var prompt0 =
        loaded.Tokenizer.Encode("Once upon a time, there was a little girl named Lily who loved to play in the park " +
        "with her dog.", addBos: true);
    for (int round = 0; round < 3; round++)
    {
        stepSeconds = 0;
        steps = 0;
        var t0 = Stopwatch.StartNew();
        var jobs0 = Enumerable.Range(0, 16).Select(i => new FineTune.Serving.Engine.GenerationJob(prompt0,
            new FineTune.Models.Generation.GenerationOptions
            {
                MaxNewTokens = NewTokens, Temperature = 0.8f,
                Seed = i
            }, null, CancellationToken.None)).ToList();
        foreach (var job in jobs0)
            loaded.Scheduler.TryEnqueue(job);
        int total0 = 0;
        foreach (var job in jobs0)
            await foreach (var e in job.Events.ReadAllAsync())
                if (e.End is null)
                    total0++;
        Console.WriteLine($"no host: {total0 / t0.Elapsed.TotalSeconds:N0} tok/s, {steps} steps of " +
            $"{stepSeconds / Math.Max(1, steps) * 1000:F2} ms");
    }
    return 0;
}

var results = new JsonArray();
var warmupRounds = new JsonObject();

foreach (var configuration in configurations)
{
    bool w8a8 = configuration.StartsWith("w8a8"), int8 = w8a8 || configuration.StartsWith("int8"),
        bf16Kv = configuration.EndsWith("bf16kv"), bf16 = configuration.StartsWith("bfloat16");
    var app = StandaloneServer.Build(new StandaloneSettings
    {
        ModelPath = dir, Name = "stories15M", Url = "http://127.0.0.1:0",
        Adapters = release is null ? new Dictionary<string, string>()
            : new Dictionary<string, string> { ["candidate"] = CandidateAdapter(dir, config) },
        Configure = o =>
            o with
            {
                Threads = threads,
                Int8 = int8,
                Int8Activations = w8a8,
                Dtype = bf16 ? "bfloat16" : int8 ? null : "float32",
                Bf16KvCache = bf16Kv,
                MaxBatchSize = 16,
                RequestsPerMinute = 0,
                ResponseCacheEntries = 0,
                ApiKeys = ["bench-key"]
            },
        Logging = l => l.SetMinimumLevel(LogLevel.Warning),
    });
    await app.StartAsync();
    if (release is { } mode)
        app.Services.GetRequiredService<FineTune.Serving.Releases.ReleaseRouter>().Replace(_ => true,
            [new FineTune.Serving.Releases.ServedRelease("stories15M@v2", "stories15M", "candidate", mode, 0.2)]);
    var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    using var http = new HttpClient { BaseAddress = new Uri(address + "/"), Timeout = TimeSpan.FromMinutes(5) };
    http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "bench-key");
    // Warm-up: the first seconds of a .NET server are spent tiering up its hot paths (HTTP, JSON, channels, the
    // vectorized sampling helpers) — the JIT thread took a fifth of the CPU in a profile of an unwarmed run, and on 2
    // cores the first configuration's steps ran 3x slower for ~20 s (none with tiered compilation off). Rounds of 16
    // concurrent streams until two in a row agree within 10% (at most 12), then measure.
    double previous = 0;
    for (int round = 0; round < 12; round++)
    {
        var clock = Stopwatch.StartNew();
        int tokens = (await Task.WhenAll(Enumerable.Range(0, 16).Select(c => RequestAsync(http, -1 - c - 100 * round))))
            .Sum(x => x.Tokens);
        double rate = tokens / clock.Elapsed.TotalSeconds;
        warmupRounds[configuration] = round + 1;
        if (round >= 1 && Math.Abs(rate - previous) <= 0.1 * previous)
            break;
        previous = rate;
    }
    if (args.Contains("--direct"))
    {
        // The scheduler without HTTP: 16 jobs straight into the batch, to tell engine time from serving overhead.
        var served = app.Services.GetRequiredService<FineTune.Serving.Engine.ModelCatalog>().All.First();
        var prompt =
            served.Base.Tokenizer.Encode("Once upon a time, there was a little girl named Lily who loved to play in " +
            "the park with her dog.", addBos: true);
        stepSeconds = 0;
        steps = 0;
        sequences = 0;
        var t0 = Stopwatch.StartNew();
        var jobs = Enumerable.Range(0, 16 * rounds).Select(i => new FineTune.Serving.Engine.GenerationJob(prompt,
            new FineTune.Models.Generation.GenerationOptions
            {
                MaxNewTokens = NewTokens, Temperature = 0.8f,
                Seed = i
            }, null, CancellationToken.None)).ToList();
        int total = 0;
        foreach (var chunk in jobs.Chunk(16))
        {
            foreach (var job in chunk)
                served.Base.Scheduler.TryEnqueue(job);
            if (args.Contains("--quiet-consumer"))
                while (served.Base.Scheduler.ActiveSequences > 0 || served.Base.Scheduler.QueueLength > 0)
                    await Task.Delay(20);
            foreach (var job in chunk)
                await foreach (var e in job.Events.ReadAllAsync())
                    if (e.End is null)
                        total++;
        }
        Console.WriteLine($"direct: {total / t0.Elapsed.TotalSeconds:N0} tok/s, {steps} steps of " +
            $"{stepSeconds / Math.Max(1, steps) * 1000:F2} ms, mean batch {(double)sequences / Math.Max(1, steps):F1}");
    }
    foreach (int clients in levels)
    {
        stepSeconds = 0;
        steps = 0;
        sequences = 0;
        var timer = Stopwatch.StartNew();
        var per = await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            var list = new List<(double Ttft, int Tokens)>();
            for (int r = 0; r < rounds; r++)
                list.Add(await RequestAsync(http, c * 1000 + r));
            return list;
        }));
        double seconds = timer.Elapsed.TotalSeconds;
        var all = per.SelectMany(x => x).ToList();
        var ttft = all.Select(x => x.Ttft).Order().ToList();
        double tps = all.Sum(x => x.Tokens) / seconds;
        results.Add(new JsonObject
        {
            ["model"] = "stories15M-shape (random weights)",
            ["weights"] = int8 ? "int8" : bf16 ? "bfloat16" : "float32",
            ["activations"] = w8a8 ? "int8" : "float32", ["kv_cache"] = bf16Kv ? "bfloat16" : "float32",
            ["clients"] = clients,
            ["requests"] = all.Count, ["new_tokens_per_request"] = NewTokens, ["seconds"] = Math.Round(seconds, 2),
            ["aggregate_tokens_per_second"] = Math.Round(tps, 1),
            ["ttft_p50_ms"] = Math.Round(Percentile(ttft, 0.5) * 1000, 1),
            ["ttft_p95_ms"] = Math.Round(Percentile(ttft, 0.95) * 1000, 1),
            ["engine_busy_fraction"] = Math.Round(stepSeconds / seconds, 3),
            ["mean_step_ms"] = Math.Round(stepSeconds / Math.Max(1, steps) * 1000, 2),
            ["mean_batch_size"] = Math.Round((double)sequences / Math.Max(1, steps), 2),
        });
        // the level's line, then its engine figures under it
        Console.WriteLine($"{configuration,-12} {clients,2} clients: {tps,8:N0} tok/s  TTFT p50 " +
            $"{Percentile(ttft, 0.5) * 1000,6:N0} ms  p95 {Percentile(ttft, 0.95) * 1000,6:N0} ms");
        Console.WriteLine($"      engine busy {stepSeconds / seconds:P0}, {steps} steps of " +
            $"{stepSeconds / Math.Max(1, steps) * 1000:F2} ms, mean batch {(double)sequences / Math.Max(1, steps):F1}");
    }
    await app.StopAsync();
    await app.DisposeAsync();
}

// int8's accuracy cost on a trained model: the tiny base model `finetune pretrain` builds, on held-out text.
var accuracy = skipAccuracy ? new JsonObject { ["skipped"] = "--no-accuracy" } : Int8Perplexity();
// The plain C anchor in the same window: llama2.c on the same shape, 1 and 2 threads (bench/Anchors.cs).
var anchors = args.Contains("--no-anchors") ? new JsonArray()
    : Anchors.Llama2c(BenchEnvironment.Arg(args, "--llama2c", null!), config, rounds);
foreach (var anchor in anchors)
    Console.WriteLine(anchor!.ToJsonString());
var report = new JsonObject
{
    ["benchmark"] = "serving: concurrent streaming /v1/completions on loopback",
    ["response_format"] = responseFormat?.DeepClone(),
    ["release"] = release?.ToString().ToLowerInvariant(),
    ["date"] = DateTime.UtcNow.ToString("O"),
    ["machine"] = new JsonObject
    {
        ["processors"] = Environment.ProcessorCount,
        ["os"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
        ["runtime"] = System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
        ["avx512"] = System.Runtime.Intrinsics.X86.Avx512F.IsSupported,
    },
    ["method"] =
        $"server and clients in one process, 2 kernel threads; each client sends {rounds} streaming requests back " +
        $"to back " +
                 $"(prompt of ~20 tokens, {NewTokens} new tokens, temperature 0.8, seed per request); TTFT = " +
                     $"request sent to first text chunk; " +
                 "aggregate = all completion tokens / wall time of the level; before each configuration, warm-up " +
                 "rounds of 16 concurrent requests until two in a row agree within 10% (at most 12)",
    ["warmup_rounds"] = warmupRounds,
    ["anchor"] = anchors,
    ["target"] = "at 16 clients: >= 5x one llama2.c stream, p95 TTFT < 1 s",
    ["results"] = results,
    ["int8_accuracy"] = accuracy,
};
File.WriteAllText(output, report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
Console.WriteLine($"wrote {output}");
return 0;

async Task<(double Ttft, int Tokens)> RequestAsync(HttpClient http, int seed)
{
    var body = new
    {
        model = "stories15M",
        prompt = "Once upon a time, there was a little girl named Lily who loved to play in the park with her dog.",
        max_tokens = NewTokens, temperature = 0.8, seed, stream = true, stream_options = new { include_usage = true },
        response_format = responseFormat, user = $"client-{seed}",
    };
    var start = Stopwatch.GetTimestamp();
    using var request = new HttpRequestMessage(HttpMethod.Post,
        "v1/completions")
    { Content = JsonContent.Create(body) };
    using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    response.EnsureSuccessStatusCode();
    using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
    double ttft = -1;
    int tokens = 0;
    while (await reader.ReadLineAsync() is { } line)
    {
        // Kept light so the load generator takes little of the CPU it shares with the server: only the usage chunk is
        // parsed.
        if (!line.StartsWith("data: ") || line == "data: [DONE]")
            continue;
        if (ttft < 0)
            ttft = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (line.Contains("\"choices\":[]"))
            tokens = JsonDocument.Parse(line[6..]).RootElement.GetProperty("usage").GetProperty("completion_tokens")
                .GetInt32();
    }
    return (ttft, tokens);
}

// A random rank-16 LoRA on every attention and MLP projection of the stories15M shape: the released candidate.
static string CandidateAdapter(string modelDir, LlamaConfig config)
{
    var dir = Path.Combine(modelDir, "candidate-adapter");
    if (File.Exists(Path.Combine(dir, "adapter_config.json")))
        return dir;
    var rng = new Random(21);
    float[] Values(long n) => [.. Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5) * 0.02f)];
    var modules = new Dictionary<string, (float[], float[], float[]?)>();
    var shapes = new Dictionary<string, (long, long)>();
    const int Rank = 16;
    for (int l = 0; l < config.NumHiddenLayers; l++)
        foreach (var (name, outF, inF) in new[] { ("self_attn.q_proj", 288L, 288L), ("self_attn.k_proj", 288L, 288L),
            ("self_attn.v_proj", 288L, 288L), ("self_attn.o_proj", 288L, 288L), ("mlp.gate_proj", 768L, 288L),
            ("mlp.up_proj", 768L, 288L), ("mlp.down_proj", 288L, 768L) })
        {
            modules[$"model.layers.{l}.{name}"] = (Values(Rank * inF), Values(outF * Rank), null);
            shapes[$"model.layers.{l}.{name}"] = (outF, inF);
        }
    FineTune.Models.Adapters.PeftAdapter.Save(dir, new FineTune.Models.Adapters.PeftConfig
    {
        R = Rank, LoraAlpha = 32, TargetModules = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
            "down_proj"],
    }, modules, shapes);
    return dir;
}

static double Percentile(List<double> sorted, double q) =>
    sorted.Count == 0 ? 0 : sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(q * sorted.Count) - 1)];

static JsonNode Int8Perplexity()
{
    var root = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "finetune",
        "base-models");
    var model = Directory.Exists(root) ? Directory.GetDirectories(root).FirstOrDefault(d => File.Exists(Path.Combine(d,
        "config.json"))) : null;
    if (model is null)
        return new JsonObject { ["skipped"] = $"no tiny base model under {root} (run `finetune pretrain` once)" };
    var tokenizer = TokenizerLoader.Load(model);
    // a seed the pre-training never used
    var text = FineTune.Demo.PretrainCorpus.Generate(seed: 424242, targetBytes: 24_000).ToList();
    double Ppl(bool int8, bool bf16Kv = false, bool w8a8 = false)
    {
        using var checkpoint = HfCheckpoint.Open(model);
        using var lm = CpuLlama.Load(checkpoint,
            new CpuLlamaOptions { Threads = 2, Int8 = int8, Bf16KvCache = bf16Kv, Int8Activations = w8a8 });
        double nll = 0;
        int count = 0;
        foreach (var doc in text)
        {
            var ids = tokenizer.Encode(doc, addBos: true).Take(lm.Config.MaxPositionEmbeddings).ToList();
            var logits = lm.Forward(ids);
            for (int t = 0; t + 1 < ids.Count; t++)
            {
                var row = logits[t];
                double max = row.Max(), sum = row.Sum(v => Math.Exp(v - max));
                nll -= row[ids[t + 1]] - max - Math.Log(sum);
                count++;
            }
        }
        return Math.Exp(nll / count);
    }
    double p32 = Ppl(false), p8 = Ppl(true), p8kv = Ppl(true, bf16Kv: true),
        pw8a8 = Ppl(true, bf16Kv: true, w8a8: true);
    Console.WriteLine($"perplexity on held-out text: float32 {p32:F4}, int8 {p8:F4} " +
        $"({(p8 - p32) / p32:+0.00%;-0.00%}), int8 + bf16 KV {p8kv:F4} ({(p8kv - p32) / p32:+0.00%;-0.00%}), W8A8 + " +
        $"bf16 KV {pw8a8:F4} ({(pw8a8 - p32) / p32:+0.00%;-0.00%})");
    return new JsonObject
    {
        ["model"] = Path.GetFileName(model), ["held_out_documents"] = text.Count,
        ["perplexity_float32"] = Math.Round(p32, 4), ["perplexity_int8"] = Math.Round(p8, 4),
        ["relative_delta"] = Math.Round((p8 - p32) / p32, 5),
        ["perplexity_int8_bf16_kv_cache"] = Math.Round(p8kv, 4),
        ["relative_delta_int8_bf16_kv_cache"] = Math.Round((p8kv - p32) / p32, 5),
        ["perplexity_w8a8_bf16_kv_cache"] = Math.Round(pw8a8, 4),
        ["relative_delta_w8a8_bf16_kv_cache"] = Math.Round((pw8a8 - p32) / p32, 5),
    };
}
