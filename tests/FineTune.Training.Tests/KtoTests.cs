// The kto recipe on rated answers (feedback shards). A fresh adapter is its own reference, so every log-ratio and the
// KL estimate start at 0 and each example costs λ·σ(0) = λ/2; training then widens the gap between the implicit
// rewards of desirable and undesirable answers, on held-out prompts too, with the frozen copy for full fine-tuning.
using FineTune.Data.Tokenization;
using FineTune.Torch;
using static TorchSharp.torch;

namespace FineTune.Training.Tests;

public class KtoTests
{
    static TrainingConfig Config(string root, string method) =>
        TinyRun.Config(root, TinyRun.SaveBase(root), TinyRun.WriteDataset(root, train: 48, validation: 16,
            feedback: true), method) with
        {
            Objective = TrainingObjective.Kto,
            Kto = new KtoConfig { Beta = 0.5, DesirableWeight = 1.0, UndesirableWeight = 1.5 },
            Optimizer = new OptimizerConfig { Lr = 2e-2 },
            Training = new LoopConfig { Epochs = 4, MicroBatchSize = 4, Seed = 5, Threads = 1 },
            Eval = new EvalConfig { EverySteps = 12 },
        };

    [Fact]
    public void A_fresh_adapter_is_its_own_reference_so_each_example_costs_half_its_weight()
    {
        using var dir = new TempDir();
        var c = Config(dir.Path, "lora");
        using var trainer = Trainer.Create(c);
        var examples = Enumerable.Range(0, 4).Select(TinyRun.Feedback).Select(e =>
            new FeedbackExample(e.Sequences[0].Ids, e.Sequences[0].Mask, e.Desirable!.Value)).ToList();
        using var scope = NewDisposeScope();
        var result = KtoBatch.Compute(trainer.Model, null, examples, beta: 0.5, desirableWeight: 1.0,
            undesirableWeight: 1.5);
        Assert.Equal(0, result.Kl, 6);
        Assert.Equal(2 * 0.5 * 1.0 + 2 * 0.5 * 1.5, result.Sum.item<float>(), 5);
        Assert.Equal(0, result.DesirableRewardSum, 6);
        Assert.Equal((2, 2), (result.Desirable, result.Undesirable));
    }

    [Fact]
    public void The_kl_estimate_pairs_each_prompt_with_the_next_examples_answer()
    {
        using var dir = new TempDir();
        var c = Config(dir.Path, "lora") with { Training = new LoopConfig { MaxSteps = 6, MicroBatchSize = 4 } };
        using var trainer = Trainer.Create(c);
        trainer.Train();   // a trained adapter, so the log-ratios are no longer 0
        var examples = new[] { 0, 1, 2, 3 }.Select(TinyRun.Feedback).Select(e =>
            new FeedbackExample(e.Sequences[0].Ids, e.Sequences[0].Mask, e.Desirable!.Value)).ToList();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double Ratio(IReadOnlyList<(int[] Ids, byte[] Mask)> rows)
        {
            var policy = DpoLoss.SequenceLogProbs(trainer.Model, rows);
            using (trainer.Model.AdaptersDisabled())
                return policy.Minus(DpoLoss.SequenceLogProbs(trainer.Model, rows)).mean().item<float>();
        }
        // prompt i with answer i + 1 (mod 4), built by hand
        var mismatched = examples.Select((e, i) =>
        {
            var next = examples[(i + 1) % examples.Count];
            return (e.Ids[..e.PromptLength].Concat(next.Ids[next.PromptLength..]).ToArray(),
                new byte[e.PromptLength].Concat(next.Mask[next.PromptLength..]).ToArray());
        }).ToList();
        double expected = Math.Max(0, Ratio(mismatched));
        double matched = Math.Max(0, Ratio([.. examples.Select(e => (e.Ids, e.Mask))]));
        Assert.True(Math.Abs(expected - matched) > 1e-3, $"the test needs the two to differ: {expected} vs {matched}");
        var result = KtoBatch.Compute(trainer.Model, null, examples, 0.5, 1, 1);
        Assert.Equal(expected, result.Kl, 5);
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("full")]
    public void Kto_widens_the_gap_between_desirable_and_undesirable_rewards(string method)
    {
        using var dir = new TempDir();
        using var trainer = Trainer.Create(Config(dir.Path, method));
        Assert.Equal(method == "full", trainer.ReferenceModel is not null);
        var report = trainer.Train();
        // before the first step the policy is the reference: margin 0, and each example costs λ/2 (half the 16
        // validation answers are desirable, λ_D = 1, λ_U = 1.5)
        Assert.Equal(0, report.Evals[0].RewardMargin!.Value, 5);
        Assert.Equal(0.5 * (0.5 * 1.0 + 0.5 * 1.5), report.Evals[0].ValidLoss, 5);
        double desirableShare = (1.5 - 2 * report.History[0].TrainLoss) / 0.5;   // of the first step's 4 examples
        Assert.Equal(Math.Round(desirableShare * 4) / 4, desirableShare, 4);
        var last = report.History[^1];
        Assert.True(last.RewardChosen > 0 && last.RewardRejected < 0,
            $"desirable {last.RewardChosen}, undesirable {last.RewardRejected}");
        Assert.True(report.Evals[^1].RewardMargin > 1, $"validation margin {report.Evals[^1].RewardMargin}");
        Assert.True(report.Evals[^1].TokenAccuracy > 0.9, $"validation accuracy {report.Evals[^1].TokenAccuracy}");
        Assert.Equal("kto", report.Objective);
    }

    [Fact]
    public void Kto_needs_feedback_shards_and_micro_batches_of_two()
    {
        using var dir = new TempDir();
        var data = TinyRun.WriteDataset(dir.Path, pairs: true);
        var pairs = TinyRun.Config(dir.Path, TinyRun.SaveBase(dir.Path), data) with
        {
            Objective = TrainingObjective.Kto,
        };
        var e = Assert.Throws<InvalidDataException>(() => Trainer.Create(pairs));
        Assert.Contains("objective 'kto' needs", e.Message);
        var root = new System.Text.Json.Nodes.JsonObject
        {
            ["base_model"] = "b", ["data"] = new System.Text.Json.Nodes.JsonObject { ["path"] = "d" },
            ["output_dir"] = "o", ["objective"] = "kto",
            ["training"] = new System.Text.Json.Nodes.JsonObject { ["micro_batch_size"] = 1 },
        };
        var config = Assert.Throws<TrainingConfigException>(() => TrainingConfigLoader.Parse(root, "c.json"));
        Assert.Contains("training.micro_batch_size", config.Message);
    }

    [Fact]
    public void Feedback_shards_keep_each_rating()
    {
        using var dir = new TempDir();
        var path = TinyRun.WriteDataset(dir.Path, train: 6, validation: 2, feedback: true);
        var manifest = TokenizedManifest.Read(path);
        Assert.Equal(ShardKind.Feedback, manifest.Splits["train"].Kind);
        using var split = TokenizedSplit.Open(path, manifest, "train")!;
        Assert.Equal([true, false, true, false, true, false], Enumerable.Range(0, 6).Select(i =>
            split.Read(i).Desirable));
        Assert.Equal(TinyRun.Feedback(3).Sequences[0].Ids, split.Read(3).Sequences[0].Ids);
    }

    [Fact]
    public void A_kto_run_stopped_and_resumed_ends_bit_identical()
    {
        using var dir = new TempDir();
        // dropout on: the generator's state travels in the checkpoint; the KL term's mismatched pairs come from the
        // plan, which a resumed run rebuilds
        TrainingConfig Run(string output) => Config(dir.Path, "lora") with
        {
            Lora = new LoraSettings(4, 8, ["all-linear"], Dropout: 0.1),
            Checkpoint = new CheckpointConfig { EverySteps = 5 },
            OutputDir = Path.Combine(dir.Path, output),
        };
        TrainingReport straight;
        using (var trainer = Trainer.Create(Run("straight")))
            straight = trainer.Train();
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(Run("resumed")))
            Assert.Equal("cancelled", first.Train(new StopAtStep(7, cts), cts.Token).StopReason);
        TrainingReport resumed;
        using (var second = Trainer.Create(Run("resumed")))
            resumed = second.Train();
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        ResumeTests.AssertSameFiles(straight.Output, resumed.Output);
    }
}
