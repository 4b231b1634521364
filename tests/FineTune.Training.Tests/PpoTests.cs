// The ppo recipe end to end on the tiny model: a reward model is trained first (RewardModelTests' preference set:
// answers from tokens 10–29 beat answers from 30–49), then PPO with a LoRA policy, a value head and the
// adapters-off reference raises that reward model's mean score on its own samples while the KL to the reference stays
// bounded; a stopped run — value head, adaptive β and rollout draws included — resumes to the same adapter bit for
// bit.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Tests;

public class PpoTests(Xunit.Abstractions.ITestOutputHelper output)
{
    static string TrainRewardModel(string root)
    {
        var rm = RewardModelTests.Config(Path.Combine(root, "rm-run"), "full");
        using var trainer = Trainer.Create(rm);
        var report = trainer.Train();
        Assert.True(report.Evals[^1].TokenAccuracy >= 0.9, $"reward model accuracy {report.Evals[^1].TokenAccuracy}");
        return Path.Combine(rm.OutputDir, "model");
    }

    // Prompts shaped as the reward model's ([1, p, q, 3]), each with a reference answer the rewards do not read.
    static string WritePrompts(string root)
    {
        var dir = Path.Combine(root, "prompts");
        IEnumerable<TokenizedExample> Prompts(int count, int seed) => Enumerable.Range(0, count).Select(i =>
        {
            var random = new Random(seed + i);
            int[] ids = [1, 4 + random.Next(6), 4 + random.Next(6), 3, 10, 11, 12, 2];
            return new TokenizedExample([new TokenizedSequence(ids, [0, 0, 0, 0, 1, 1, 1, 1])], 0, false, false);
        }).ToList();
        TokenizedDatasetWriter.Write(dir, new Dictionary<string, IEnumerable<TokenizedExample>>
        {
            ["train"] = Prompts(32, 1), ["validation"] = Prompts(8, 9000),
        }, 64);
        return dir;
    }

    static TrainingConfig Config(string root, string rewardModel, string output = "ppo", double? targetKl = null) =>
        TinyRun.Config(root, TinyRun.SaveBase(root, RewardModelTests.Base), WritePrompts(root), "lora") with
        {
            Objective = TrainingObjective.Ppo,
            Lora = new LoraSettings(4, 8, ["all-linear"]),
            Ppo = new PpoConfig
            {
                MaxNewTokens = 4, KlCoef = 0.2, TargetKl = targetKl, PpoEpochs = 4, NumMiniBatches = 2,
                Rewards = [new RewardSpec { Type = "reward_model", Model = rewardModel }],
            },
            Optimizer = new OptimizerConfig { Lr = 3e-2 },
            Schedule = new ScheduleConfig { Type = ScheduleType.Constant },
            Training = new LoopConfig { Epochs = 12, MicroBatchSize = 16, Seed = 5, Threads = 1 },
            Eval = new EvalConfig { EverySteps = 8, SamplePrompts = 0 },
            Checkpoint = new CheckpointConfig { EverySteps = 4, KeepLast = 1 },
            OutputDir = Path.Combine(root, output),
        };

    [Fact]
    public void Ppo_raises_the_reward_models_mean_score_with_bounded_kl()
    {
        using var dir = new TempDir();
        var rewardModel = TrainRewardModel(dir.Path);
        // 80 steps: the clipped value loss moves the critic at most clip_range_value a step, and each rollout's value
        // loss is noisy (one rollout's returns), so its fall is read over the first and last eight rollouts
        var config = Config(dir.Path, rewardModel);
        using var trainer = Trainer.Create(config with { Training = config.Training with { Epochs = 40 } });
        var report = trainer.Train();
        var first = report.History[0].Rollout!;
        var last = report.History[^1].Rollout!;
        double early = report.History.Take(4).Average(h => h.Rollout!["reward"]);
        double late = report.History.TakeLast(4).Average(h => h.Rollout!["reward"]);
        double valueEarly = report.History.Take(8).Average(h => h.Rollout!["value_loss"]);
        double valueLate = report.History.TakeLast(8).Average(h => h.Rollout!["value_loss"]);
        output.WriteLine($"mean reward-model score {early:0.###} -> {late:0.###} over {report.Steps} steps, kl " +
            $"{last["kl"]:0.###}, value loss {valueEarly:0.###} -> {valueLate:0.###} (first and last eight), " +
            $"{report.Seconds:0.#} s");
        Assert.True(late > early + 1, $"reward-model score {early} -> {late}");
        Assert.Equal(0, first["kl"], 5);                 // the first rollout's policy is the reference
        Assert.True(report.History.Max(h => h.Rollout!["kl"]) < 15, "kl to the reference stays bounded");
        Assert.True(valueLate < 0.8 * valueEarly, $"value loss {valueEarly} -> {valueLate}");
        Assert.True(report.Evals[^1].Rewards!["reward_model"] > report.Evals[0].Rewards!["reward_model"]);
        foreach (var key in new[] { "entropy", "approx_kl", "value_loss", "policy_loss", "completion_length",
                     "kl_coef", "reward/reward_model" })
            Assert.True(last.ContainsKey(key), key);
        Assert.Equal("ppo", report.Objective);
        Assert.False(File.Exists(Path.Combine(report.Output, "value_head.safetensors")));   // the adapter only
    }

    [Fact]
    public void A_ppo_run_stopped_and_resumed_ends_bit_identical()
    {
        using var dir = new TempDir();
        var rewardModel = TrainRewardModel(dir.Path);
        TrainingReport straight;
        using (var trainer = Trainer.Create(Config(dir.Path, rewardModel, "straight", targetKl: 0.5)))
            straight = trainer.Train();
        var config = Config(dir.Path, rewardModel, "resumed", targetKl: 0.5) with
        {
            Checkpoint = new CheckpointConfig { EverySteps = 4, KeepLast = 2 },
        };
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(config))
            Assert.Equal("cancelled", first.Train(new StopAtStep(6, cts), cts.Token).StopReason);
        // As after a kill in step 7's rollout: the newest checkpoint left is step 4's, so steps 5 and 6 are sampled and
        // optimised again.
        Directory.Delete(TrainingCheckpoints.PathOf(config.OutputDir, 6), recursive: true);
        TrainingReport resumed;
        using (var second = Trainer.Create(config))
        {
            Assert.Equal(4, second.State.Step);
            resumed = second.Train();
        }
        Assert.NotEqual(straight.History[0].Rollout!["kl_coef"], straight.History[^1].Rollout!["kl_coef"]);
        Assert.Equal(straight.History.Select(h => h.Rollout!["kl_coef"]),
            resumed.History.Select(h => h.Rollout!["kl_coef"]));
        Assert.Equal(straight.History.Select(h => h.Rollout!["value_loss"]),
            resumed.History.Select(h => h.Rollout!["value_loss"]));
        ResumeTests.AssertSameFiles(straight.Output, resumed.Output);
    }
}
