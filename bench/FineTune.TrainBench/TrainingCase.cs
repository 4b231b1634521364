// One benchmark case in its own process: a random stories15M-shape base written as a Hugging Face checkpoint, 8 × 257
// token rows per step as FTSHARD1 shards (every target trained), the real Trainer for warm-up + timed steps, each step
// timed from the progress callback. Reports the median, min and max tokens/s and the process's peak resident memory.
using System.Diagnostics;
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Torch;
using FineTune.Training;

namespace FineTune.TrainBench;

static class TrainingCase
{
    const int Batch = 8, Tokens = 256, Warmup = 2;

    public static readonly LlamaConfig Shape = new()
    {
        HiddenSize = 288, IntermediateSize = 768, NumHiddenLayers = 6, NumAttentionHeads = 6, NumKeyValueHeads = 6,
        VocabSize = 32000, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TieWordEmbeddings = false,
    };

    public static JsonObject Run(string name, int threads, int steps)
    {
        var parts = name.Split(':');
        string method = parts[0], precision = parts[1];
        var root = Directory.CreateTempSubdirectory("finetune-trainbench-").FullName;
        try
        {
            var baseDir = SaveRandomBase(root, Shape);
            var rng = new Random(1);
            var examples = Enumerable.Range(0, Batch * (Warmup + steps)).Select(_ =>
            {
                var ids = Enumerable.Range(0, Tokens + 1).Select(_ => rng.Next(Shape.VocabSize)).ToArray();
                var mask = ids.Select((_, t) => (byte)(t == 0 ? 0 : 1)).ToArray();
                return new TokenizedExample([new TokenizedSequence(ids, mask)], 0, false, false);
            }).ToList();
            var data = Path.Combine(root, "data");
            TokenizedDatasetWriter.Write(data, new Dictionary<string,
                IEnumerable<TokenizedExample>>
            { ["train"] = examples }, Shape.VocabSize);
            var config = new TrainingConfig
            {
                BaseModel = baseDir, Method = ConfigNames.Parse<TrainingMethod>(method), OutputDir = Path.Combine(root,
                    "out"),
                Data = new DataConfig { Path = data, Packing = false, MaxLength = Tokens + 1 },
                Lora = new LoraSettings(Rank: 8, Alpha: 16, TargetModules: ["q_proj", "v_proj"]),
                Optimizer = new OptimizerConfig { Lr = 1e-4 },
                Training = new LoopConfig
                {
                    Epochs = 1, MicroBatchSize = Batch, Seed = 1, Threads = threads,
                    Bf16 = precision == "bf16" ? "true" : "false"
                },
                Checkpoint = new CheckpointConfig { EverySteps = 0 },
            };
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
            long trainable = trainer.Model.named_parameters().Where(p => p.parameter.requires_grad).Sum(p =>
                p.parameter.numel());
            using var process = Process.GetCurrentProcess();
            return new JsonObject
            {
                ["implementation"] = "finetune (TorchSharp 0.107, libtorch 2.10)", ["method"] = method,
                ["precision"] = precision, ["threads"] = threads,
                ["tokens_per_second_median"] = Math.Round(Batch * Tokens / times[times.Count / 2], 1),
                ["tokens_per_second_min"] = Math.Round(Batch * Tokens / times[^1], 1),
                ["tokens_per_second_max"] = Math.Round(Batch * Tokens / times[0], 1),
                ["peak_rss_mib"] = Math.Round(process.PeakWorkingSet64 / 1048576.0, 0),
                ["trainable_parameters"] = trainable,
                ["model_flops_per_token"] = FlopsPerToken(method == "full", trainable),
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
    static double FlopsPerToken(bool full, long trainable)
    {
        long d = Shape.HiddenSize, perLayer = 4 * d * d + 3 * d * Shape.IntermediateSize;
        double n = Shape.NumHiddenLayers * perLayer + d * Shape.VocabSize;
        double attention = 12.0 * Shape.NumHiddenLayers * Tokens * d;
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
