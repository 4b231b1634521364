// The reward_model recipe: a scalar score head on the base, trained with the Bradley–Terry loss on preference pairs.
// On a synthetic preference set whose rule (answers drawn from a preferred set of tokens beat answers from another)
// must generalise to unseen pairs, validation pair accuracy goes from chance to near 1. The outputs are Hugging Face's
// layouts — LlamaForSequenceClassification with `score.weight`, or a PEFT SEQ_CLS adapter with the head in
// modules_to_save, which merges into a full classifier — and load back to the same scores; a stopped run resumes bit
// for bit.
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Models;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Torch;
using static TorchSharp.torch;

namespace FineTune.Training.Tests;

public class RewardModelTests
{
    internal static LlamaConfig Base => TinyRun.Config() with { BosTokenId = 1, EosTokenIds = [2] };

    // prompt [1, p, q, 3]; chosen answer: three tokens from 10–29, rejected: three from 30–49, then EOS.
    static TokenizedExample Pair(Random random)
    {
        int[] prompt = [1, 4 + random.Next(6), 4 + random.Next(6), 3];
        int[] Answer(int from) => [.. prompt, .. Enumerable.Range(0, 3).Select(_ => from + random.Next(20)), 2];
        byte[] Mask(int[] s) => s.Select((_, t) => (byte)(t >= prompt.Length ? 1 : 0)).ToArray();
        int[] chosen = Answer(10), rejected = Answer(30);
        return new TokenizedExample([new TokenizedSequence(chosen, Mask(chosen)),
            new TokenizedSequence(rejected, Mask(rejected))], prompt.Length, false, false);
    }

    static string WritePairs(string root)
    {
        var dir = Path.Combine(root, "data");
        TokenizedDatasetWriter.Write(dir, new Dictionary<string, IEnumerable<TokenizedExample>>
        {
            ["train"] = Enumerable.Range(0, 96).Select(_ => Pair(new Random(_ + 1))).ToList(),
            ["validation"] = Enumerable.Range(0, 32).Select(_ => Pair(new Random(_ + 5000))).ToList(),
        }, 64);
        return dir;
    }

    internal static TrainingConfig Config(string root, string method, string output = "out")
    {
        var c = TinyRun.Config(root, TinyRun.SaveBase(root, Base), WritePairs(root), method);
        return c with
        {
            Objective = TrainingObjective.RewardModel,
            Optimizer = new OptimizerConfig { Lr = 1e-2 },
            Training = new LoopConfig { Epochs = 3, MicroBatchSize = 8, Seed = 5, Threads = 1 },
            Eval = new EvalConfig { EverySteps = 12 },
            Checkpoint = new CheckpointConfig { EverySteps = 12, KeepLast = 1 },
            OutputDir = Path.Combine(root, output),
        };
    }

    static float[] Scores(Llama model, IEnumerable<int[]> sequences)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        return RewardScores.Compute(model, sequences.ToList()).ToFloat32Array();
    }

    static List<int[]> ValidationSequences() =>
        Enumerable.Range(0, 8).Select(i => Pair(new Random(i + 5000))).SelectMany(p => p.Sequences.Select(s => s.Ids))
            .ToList();

    [Fact]
    public void A_full_reward_model_learns_the_preference_and_saves_as_LlamaForSequenceClassification()
    {
        using var dir = new TempDir();
        using var trainer = Trainer.Create(Config(dir.Path, "full"));
        var report = trainer.Train();
        Assert.InRange(report.Evals[0].TokenAccuracy, 0.2, 0.8);             // a fresh head: chance
        Assert.True(report.Evals[^1].TokenAccuracy >= 0.95,
            $"validation pair accuracy {report.Evals[^1].TokenAccuracy}");
        Assert.True(report.Evals[^1].RewardMargin > 1, $"validation margin {report.Evals[^1].RewardMargin}");
        Assert.True(report.History[^1].RewardMargin > 0);
        Assert.Equal("reward_model", report.Objective);

        var output = Path.Combine(dir.Path, "out", "model");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "config.json")))!;
        Assert.Equal("LlamaForSequenceClassification", (string)config["architectures"]![0]!);
        Assert.Equal(1, (int)config["num_labels"]!);
        Assert.Equal(1, (int)config["pad_token_id"]!);                      // BOS: never the last token
        using (var checkpoint = HfCheckpoint.Open(output))
        {
            Assert.Equal([1L, 32L], checkpoint.Describe("score.weight").Shape);
            Assert.False(checkpoint.Contains("lm_head.weight"));
        }
        var expected = Scores(trainer.Model, ValidationSequences());
        using var loaded = LlamaCheckpoints.LoadRewardModel(output);
        Assert.Equal(expected, Scores(loaded, ValidationSequences()));
        // a reward model cannot be used where a causal LM is expected
        var e = Assert.Throws<ModelFormatException>(() => LlamaCheckpoints.Load(output));
        Assert.Contains("reward score", e.Message);
    }

    [Fact]
    public void A_lora_reward_model_exports_a_seq_cls_adapter_with_its_head_that_loads_back_to_the_same_scores()
    {
        using var dir = new TempDir();
        var c = Config(dir.Path, "lora");
        using var trainer = Trainer.Create(c);
        var report = trainer.Train();
        Assert.True(report.Evals[^1].TokenAccuracy >= 0.9,
            $"validation pair accuracy {report.Evals[^1].TokenAccuracy}");
        Assert.Contains("score.weight", report.TrainableTensors);
        Assert.DoesNotContain(report.TrainableTensors, n => n.StartsWith("model.layers.0.mlp.up_proj.weight"));

        var adapterDir = Path.Combine(dir.Path, "out", "adapter");
        var adapterConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json")))!;
        Assert.Equal("SEQ_CLS", (string)adapterConfig["task_type"]!);
        Assert.Equal("score", (string)adapterConfig["modules_to_save"]![0]!);
        using (var file = SafeTensorsFile.Open(Path.Combine(adapterDir, "adapter_model.safetensors")))
            Assert.True(file.Contains("base_model.model.score.weight"));

        var expected = Scores(trainer.Model, ValidationSequences());
        using var loaded = LlamaCheckpoints.LoadRewardModel(c.BaseModel, adapter: c.Lora with { Dropout = 0 });
        TrainingCheckpoints.RestoreWeights(loaded, adapterDir);
        Assert.Equal(expected, Scores(loaded, ValidationSequences()));
        // generation refuses it with what to do instead
        var e = Assert.Throws<ModelFormatException>(() => PeftAdapter.Load(adapterDir));
        Assert.Contains("SEQ_CLS", e.Message);

        // merged into its base (`finetune merge`): a full reward model in the HF layout with the adapter's head,
        // scoring as the base with the adapter does (up to float rounding of W + s·BA)
        var merged = Path.Combine(dir.Path, "merged");
        ModelMerge.Save(c.BaseModel, adapterDir, merged);
        var mergedConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(merged, "config.json")))!;
        Assert.Equal("LlamaForSequenceClassification", (string)mergedConfig["architectures"]![0]!);
        Assert.Equal(1, (int)mergedConfig["num_labels"]!);
        using (var checkpoint = HfCheckpoint.Open(merged))
            Assert.False(checkpoint.Contains("lm_head.weight"));
        using var full = LlamaCheckpoints.LoadRewardModel(merged);
        var mergedScores = Scores(full, ValidationSequences());
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], mergedScores[i], 3e-4f);
    }

    [Fact]
    public void A_reward_model_run_stopped_and_resumed_ends_bit_identical()
    {
        using var dir = new TempDir();
        // dropout on, so the generator's state has to travel in the checkpoint
        TrainingConfig Run(string output) => Config(dir.Path, "lora", output) with
        {
            Lora = new LoraSettings(4, 8, ["all-linear"], Dropout: 0.1),
            Checkpoint = new CheckpointConfig { EverySteps = 5 },
        };
        TrainingReport straight;
        using (var trainer = Trainer.Create(Run("straight")))
            straight = trainer.Train();
        var config = Run("resumed");
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(config))
        {
            var progress = new StopAtStep(5, cts);
            Assert.Equal("cancelled", first.Train(progress, cts.Token).StopReason);
        }
        TrainingReport resumed;
        using (var second = Trainer.Create(config))
        {
            Assert.Equal(5, second.State.Step);
            resumed = second.Train();
        }
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        ResumeTests.AssertSameFiles(straight.Output, resumed.Output);
    }

    [Theory]
    [InlineData("ia3")]
    [InlineData("prompt_tuning")]
    public void A_reward_model_needs_a_method_that_can_train_its_new_head(string method)
    {
        var root = new JsonObject
        {
            ["base_model"] = "b", ["data"] = new JsonObject { ["path"] = "d" }, ["output_dir"] = "o",
            ["objective"] = "reward_model", ["method"] = method,
        };
        var e = Assert.Throws<TrainingConfigException>(() => TrainingConfigLoader.Parse(root, "c.json"));
        Assert.Contains("'method'", e.Message);
        Assert.Contains("full, lora, dora or qlora", e.Message);
    }
}
