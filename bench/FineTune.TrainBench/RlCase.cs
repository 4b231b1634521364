// One RL benchmark case in its own process: GRPO or PPO with LoRA r=16 on every linear layer, over a random base of the
// stories15M shape (vocab 32000) or of the shipped tiny base's shape (dim 128, 4 layers, vocab 1024), 16 completions of
// 64 new tokens per step (GRPO: 4 prompts × G 4; PPO: 16 prompts, 4 epochs × 2 minibatches) to 32-token prompts, the
// reward a length penalty (no tokenizer needed; what it scores does not change the cost). Per timed step: the
// rollout's share (sampling with the KV cache) and the rest (log-probs, values and reference without gradients, the
// loss forward and backward, the updates). Rollouts on the managed CPU engine over a merged copy (cpu, the default) or
// on the TorchSharp model with the adapter unmerged (torch). Reports medians over the timed steps.
using System.Diagnostics;
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Torch;
using FineTune.Training;

namespace FineTune.TrainBench;

static class RlCase
{
    const int PromptTokens = 32, NewTokens = 64, Completions = 16, Warmup = 1;

    static readonly LlamaConfig Tiny = new()
    {
        HiddenSize = 128, IntermediateSize = 384, NumHiddenLayers = 4, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        VocabSize = 1024, MaxPositionEmbeddings = 256, RmsNormEps = 1e-5, TieWordEmbeddings = true,
    };

    public static JsonObject Run(string name, int threads, int steps)
    {
        var parts = name.Split(':');
        string recipe = parts[1], shapeName = parts[2], engine = parts.Length > 3 ? parts[3] : "cpu";
        var shape = shapeName == "tiny" ? Tiny : TrainingCase.Shape;
        int prompts = recipe == "grpo" ? Completions / 4 : Completions;
        var root = Directory.CreateTempSubdirectory("finetune-rlbench-").FullName;
        try
        {
            var baseDir = TrainingCase.SaveRandomBase(root, shape);
            var rng = new Random(1);
            var examples = Enumerable.Range(0, prompts * (Warmup + steps)).Select(_ =>
            {
                var ids = Enumerable.Range(0, PromptTokens + 8).Select(_ => rng.Next(shape.VocabSize)).ToArray();
                var mask = ids.Select((_, t) => (byte)(t < PromptTokens ? 0 : 1)).ToArray();
                return new TokenizedExample([new TokenizedSequence(ids, mask)], 0, false, false);
            }).ToList();
            var data = Path.Combine(root, "data");
            TokenizedDatasetWriter.Write(data, new Dictionary<string, IEnumerable<TokenizedExample>>
            {
                ["train"] = examples,
            }, shape.VocabSize);
            RewardSpec[] rewards = [new() { Type = "length", Target = NewTokens / 2 }];
            var config = new TrainingConfig
            {
                BaseModel = baseDir, Method = TrainingMethod.Lora, OutputDir = Path.Combine(root, "out"),
                Objective = ConfigNames.Parse<TrainingObjective>(recipe),
                Data = new DataConfig { Path = data, Packing = false },
                Lora = new LoraSettings(Rank: 16, Alpha: 32, TargetModules: ["all-linear"]),
                Grpo = new GrpoConfig
                {
                    NumGenerations = 4, MaxNewTokens = NewTokens, Beta = 0.04, Rewards = rewards,
                    RolloutEngine = ConfigNames.Parse<RolloutEngine>(engine),
                },
                Ppo = new PpoConfig
                {
                    MaxNewTokens = NewTokens, PpoEpochs = 4, NumMiniBatches = 2, Rewards = rewards,
                    RolloutEngine = ConfigNames.Parse<RolloutEngine>(engine),
                },
                Optimizer = new OptimizerConfig { Lr = 1e-4 },
                Training = new LoopConfig { Epochs = 1, MicroBatchSize = prompts, Seed = 1, Threads = threads },
                Eval = new EvalConfig { OnStart = false, SamplePrompts = 0 },
                Checkpoint = new CheckpointConfig { EverySteps = 0 },
            };
            using var trainer = Trainer.Create(config);
            var stepSeconds = new List<double>();
            var rollout = new List<(double Seconds, double Sampled, long Optimised)>();
            var clock = Stopwatch.StartNew();
            double last = 0;
            trainer.Train(new StepTimer(m =>
            {
                double now = clock.Elapsed.TotalSeconds;
                if (m.Step > Warmup)
                {
                    stepSeconds.Add(now - last);
                    var r = m.Rollout!;
                    rollout.Add((r["rollout_seconds"], r["completion_length"] * Completions, m.Tokens));
                }
                last = now;
            }));
            var generation = stepSeconds.Select((s, i) => rollout[i].Seconds / s).Order().ToList();
            var sampling = rollout.Select(r => r.Sampled / r.Seconds).Order().ToList();
            var optimisation = stepSeconds.Select((s, i) => rollout[i].Optimised / (s - rollout[i].Seconds)).Order()
                .ToList();
            using var process = Process.GetCurrentProcess();
            return new JsonObject
            {
                ["implementation"] = "finetune (TorchSharp 0.107, libtorch 2.10)", ["recipe"] = recipe,
                ["rollout_engine"] = engine,
                ["shape"] = shapeName == "tiny" ? "tiny base (dim 128, 4 layers, vocab 1024)"
                    : "stories15M (dim 288, 6 layers, vocab 32000)",
                ["threads"] = threads, ["timed_steps"] = stepSeconds.Count,
                ["completions_per_step"] = Completions, ["new_tokens_per_completion"] = NewTokens,
                ["step_seconds_median"] = Math.Round(stepSeconds.Order().ElementAt(stepSeconds.Count / 2), 2),
                ["rollout_tokens_per_second_median"] = Math.Round(sampling[sampling.Count / 2], 1),
                ["rollout_tokens_per_second_min"] = Math.Round(sampling[0], 1),
                ["rollout_tokens_per_second_max"] = Math.Round(sampling[^1], 1),
                ["optimisation_tokens_per_second_median"] = Math.Round(optimisation[optimisation.Count / 2], 1),
                ["generation_share_of_step_median"] = Math.Round(generation[generation.Count / 2], 3),
                ["peak_rss_mib"] = Math.Round(process.PeakWorkingSet64 / 1048576.0, 0),
                ["optimised_tokens_note"] = recipe == "ppo"
                    ? "prompt + completion tokens × updates per step (4 epochs × 2 minibatches each see half)"
                    : "prompt + completion tokens of the step's completions, once",
            };
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    sealed class StepTimer(Action<StepMetrics> onStep) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value)
        {
            if (value.Metrics is { } m)
                onStep(m);
        }
    }
}
