// One benchmark case in its own process: a random base of the stories15M shape (8 × 257 token rows per step) or the
// 110M shape (4 × 513) written as a Hugging Face checkpoint, the rows as FTSHARD1 shards (every target trained), the
// real Trainer for warm-up + timed steps, each step timed from the progress callback. Reports the median, min and max
// tokens/s and the process's peak resident memory; bf16 cases also the bf16 matmul peak measured in the process just
// before and after their timed steps (the higher of the two).
using System.Diagnostics;
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Torch;
using FineTune.Training;
using static TorchSharp.torch.ScalarType;

namespace FineTune.TrainBench;

static class TrainingCase
{
    const int Warmup = 2;

    // stories15M's shape with an untied head; a context of 512 so that the 257-token rows (256 trained positions and
    // the last target) pass the trainer's context check.
    public static readonly LlamaConfig Shape = new()
    {
        HiddenSize = 288, IntermediateSize = 768, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 6,
        VocabSize = 32000, MaxPositionEmbeddings = 512, RmsNormEps = 1e-5, TieWordEmbeddings = false,
    };

    // stories110M's shape (tied head, 110M parameters, context 1024), trained on rows of 512 as the issue asks.
    public static readonly LlamaConfig Shape110M = new()
    {
        HiddenSize = 768, IntermediateSize = 2048, NumHiddenLayers = 12, NumAttentionHeads = 12,
        NumKeyValueHeads = 12, VocabSize = 32000, MaxPositionEmbeddings = 1024, RmsNormEps = 1e-5,
        TieWordEmbeddings = true,
    };

    /// <summary>The shape, rows per step and tokens per row of a case's shape name.</summary>
    public static (LlamaConfig Shape, int Batch, int Tokens) ShapeOf(string name) => name switch
    {
        "15M" => (Shape, 8, 256),
        "110M" => (Shape110M, 4, 512),     // 513-token rows within its context of 1024
        _ => throw new ArgumentException($"unknown shape '{name}' (15M, 110M)"),
    };

    /// <summary>name: method:precision[:shape], e.g. full:bf16:110M.</summary>
    public static JsonObject Run(string name, int threads, int steps)
    {
        var parts = name.Split(':');
        string method = parts[0], precision = parts[1], shapeName = parts.Length > 2 ? parts[2] : "15M";
        var (shape, batch, tokens) = ShapeOf(shapeName);
        var root = Directory.CreateTempSubdirectory("finetune-trainbench-").FullName;
        try
        {
            var baseDir = SaveRandomBase(root, shape);
            var rng = new Random(1);
            var examples = Enumerable.Range(0, batch * (Warmup + steps)).Select(_ =>
            {
                var ids = Enumerable.Range(0, tokens + 1).Select(_ => rng.Next(shape.VocabSize)).ToArray();
                var mask = ids.Select((_, t) => (byte)(t == 0 ? 0 : 1)).ToArray();
                return new TokenizedExample([new TokenizedSequence(ids, mask)], 0, false, false);
            }).ToList();
            var data = Path.Combine(root, "data");
            TokenizedDatasetWriter.Write(data, new Dictionary<string,
                IEnumerable<TokenizedExample>>
            { ["train"] = examples }, shape.VocabSize);
            var config = new TrainingConfig
            {
                BaseModel = baseDir, Method = ConfigNames.Parse<TrainingMethod>(method), OutputDir = Path.Combine(root,
                    "out"),
                Data = new DataConfig { Path = data, Packing = false, MaxLength = tokens + 1 },
                Lora = new LoraSettings(Rank: 8, Alpha: 16, TargetModules: ["q_proj", "v_proj"]),
                Optimizer = new OptimizerConfig { Lr = 1e-4 },
                Training = new LoopConfig
                {
                    Epochs = 1, MicroBatchSize = batch, Seed = 1, Threads = threads,
                    Bf16 = precision == "bf16" ? "true" : "false"
                },
                Checkpoint = new CheckpointConfig { EverySteps = 0 },
            };
            // bf16: the matmul peak in this process just before and after the timed steps too, so MFU can be read
            // against the peak of the case's own window (a shared VM drifts by 10-20% within a run)
            double? peakBefore = precision == "bf16" ? MatmulPeak.Best(BFloat16, threads) : null;
            using var trainer = Trainer.Create(config);
            var times = new List<double>();
            var clock = Stopwatch.StartNew();
            double last = 0;
            trainer.Train(new StepTimer(step =>
            {
                double now = clock.Elapsed.TotalSeconds;
                if (step > Warmup)
                    times.Add(now - last);
                last = now;
            }));
            times.Sort();
            double? peakAfter = peakBefore is null ? null : MatmulPeak.Best(BFloat16, threads);
            long trainable = trainer.Model.named_parameters().Where(p => p.parameter.requires_grad).Sum(p =>
                p.parameter.numel());
            using var process = Process.GetCurrentProcess();
            return new JsonObject
            {
                ["implementation"] = "finetune (TorchSharp 0.107, libtorch 2.10)", ["method"] = method,
                ["precision"] = precision, ["shape"] = shapeName, ["batch"] = $"{batch} x {tokens}",
                ["threads"] = threads,
                ["tokens_per_second_median"] = Math.Round(batch * tokens / times[times.Count / 2], 1),
                ["tokens_per_second_min"] = Math.Round(batch * tokens / times[^1], 1),
                ["tokens_per_second_max"] = Math.Round(batch * tokens / times[0], 1),
                ["peak_rss_mib"] = Math.Round(process.PeakWorkingSet64 / 1048576.0, 0),
                ["trainable_parameters"] = trainable,
                ["model_flops_per_token"] = FlopsPerToken(shape, tokens, method == "full", trainable),
                ["bfloat16_peak_gflops_in_case"] = peakBefore is { } before
                    ? Math.Round(Math.Max(before, peakAfter!.Value), 1) : null,
            };
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>A random base of this shape saved as a Hugging Face checkpoint under root/base.</summary>
    public static string SaveRandomBase(string root, LlamaConfig shape)
    {
        var baseDir = Path.Combine(root, "base");
        var tensors = LlamaWeights.Random(shape, seed: 15, std: 0.02f);
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(baseDir, shape, tensors.Select(t => t.Info).ToList(), info => byName[info.Name].Bytes);
        return baseDir;
    }

    // PaLM's count: 6N for the matmul weights (projections + LM head) + 12·L·T·d for attention; with a frozen base the
    // weight gradients are not computed: 4N, plus 6 per adapter weight.
    public static double FlopsPerToken(LlamaConfig shape, int tokens, bool full, long trainable)
    {
        long d = shape.HiddenSize, perLayer = 4 * d * d + 3 * d * shape.IntermediateSize;
        double n = shape.NumHiddenLayers * perLayer + d * shape.VocabSize;
        double attention = 12.0 * shape.NumHiddenLayers * tokens * d;
        return (full ? 6 * n : 4 * n + 6 * trainable) + attention;
    }

    sealed class StepTimer(Action<int> onStep) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Metrics is { } m)
                onStep(m.Step);
        }
    }
}
