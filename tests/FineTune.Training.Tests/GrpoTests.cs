// The grpo recipe on the tiny model with a verifiable reward written in C# (the IRewardFunction a user adds): the share
// of a completion's tokens drawn from a "good" range. Sampled groups, group-normalised advantages and the policy
// gradient raise the greedy answers' reward on held-out prompts; a stopped run resumes to the same adapter bit for bit
// (the rollouts' draws are seeded by step and example); the KL to the adapters-off reference is reported and grows
// from 0; bad reward settings are refused with the key.
using System.Text.Json.Nodes;
using FineTune.Torch;
using FineTune.Training.Rewards;

namespace FineTune.Training.Tests;

public class GrpoTests(Xunit.Abstractions.ITestOutputHelper output)
{
    sealed class GoodTokens : PerCompletionReward
    {
        public override string Name => "good_tokens";

        protected override double Score(RewardContext c) => c.CompletionIds.Length == 0 ? 0
            : c.CompletionIds.Count(t => t is >= 10 and < 30) / (double)c.CompletionIds.Length;
    }

    static TrainingConfig Config(string root, string output = "out", double beta = 0.05) =>
        TinyRun.Config(root, TinyRun.SaveBase(root), TinyRun.WriteDataset(root, train: 32, validation: 8), "lora") with
        {
            Objective = TrainingObjective.Grpo,
            Lora = new LoraSettings(4, 8, ["all-linear"], Dropout: 0.1),
            Grpo = new GrpoConfig
            {
                NumGenerations = 4, MaxNewTokens = 6, Temperature = 1.0, Beta = beta,
                Rewards = [new RewardSpec { Type = "custom", Name = "good_tokens" }],
            },
            Optimizer = new OptimizerConfig { Lr = 3e-2 },
            Training = new LoopConfig { Epochs = 3, MicroBatchSize = 4, Seed = 5, Threads = 1 },
            Eval = new EvalConfig { EverySteps = 8, SamplePrompts = 0 },
            Checkpoint = new CheckpointConfig { EverySteps = 4, KeepLast = 1 },
            OutputDir = Path.Combine(root, output),
        };

    [Fact]
    public void Grpo_raises_a_verifiable_reward_on_held_out_prompts()
    {
        using var dir = new TempDir();
        using var meter = new TrainingMeterReadings();
        using var trainer = Trainer.Create(Config(dir.Path), rewardFunctions: [new GoodTokens()]);
        var report = trainer.Train();
        // the dashboard's gauges carry the last step's reward and KL
        Assert.Equal(report.History[^1].Rollout!["reward"], meter.Last("finetune.training.reward"));
        Assert.Equal(report.History[^1].Rollout!["kl"], meter.Last("finetune.training.kl"));
        double before = report.Evals[0].Rewards!["reward"], after = report.Evals[^1].Rewards!["reward"];
        output.WriteLine($"greedy reward on validation prompts {before:0.###} -> {after:0.###}; steps " +
            $"{report.Steps}, kl {report.History[^1].Rollout!["kl"]:0.####}, {report.Seconds:0.#} s");
        Assert.True(after > before + 0.3, $"greedy reward on validation prompts {before:0.###} -> {after:0.###}");
        Assert.Equal(after, report.Evals[^1].Rewards!["good_tokens"], 6);
        Assert.Equal(-after, report.Evals[^1].ValidLoss, 6);

        var first = report.History[0].Rollout!;
        var last = report.History[^1].Rollout!;
        Assert.True(last["reward"] > first["reward"], $"sampled reward {first["reward"]} -> {last["reward"]}");
        Assert.Equal(0, first["kl"], 6);                        // the first step's policy is the reference
        Assert.True(last["kl"] > 0 && last["kl"] < 5, $"kl {last["kl"]}");
        Assert.Equal(6, first["completion_length"]);            // no stop token in this vocabulary: full length
        Assert.InRange(first["zero_std_groups"], 0, 1);
        Assert.True(first.ContainsKey("reward/good_tokens_std") && first["rollout_tokens_per_second"] > 0);
        Assert.Equal("grpo", report.Objective);
    }

    [Fact]
    public void A_grpo_run_stopped_and_resumed_draws_the_same_rollouts_and_ends_bit_identical()
    {
        using var dir = new TempDir();
        TrainingReport straight;
        using (var trainer = Trainer.Create(Config(dir.Path, "straight"), rewardFunctions: [new GoodTokens()]))
            straight = trainer.Train();
        var config = Config(dir.Path, "resumed") with
        {
            Checkpoint = new CheckpointConfig { EverySteps = 4, KeepLast = 2 },
        };
        using (var cts = new CancellationTokenSource())
        using (var first = Trainer.Create(config, rewardFunctions: [new GoodTokens()]))
            Assert.Equal("cancelled", first.Train(new StopAtStep(5, cts), cts.Token).StopReason);
        // As after a kill in step 6's rollout: the newest checkpoint left is step 4's, so step 5's completions are
        // drawn again — the same ones.
        Directory.Delete(TrainingCheckpoints.PathOf(config.OutputDir, 5), recursive: true);
        TrainingReport resumed;
        using (var second = Trainer.Create(config, rewardFunctions: [new GoodTokens()]))
        {
            Assert.Equal(4, second.State.Step);
            resumed = second.Train();
        }
        Assert.Equal(straight.History.Select(h => h.Rollout!["reward"]),
            resumed.History.Select(h => h.Rollout!["reward"]));
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
        ResumeTests.AssertSameFiles(straight.Output, resumed.Output);
    }

    [Fact]
    public void Several_passes_over_a_steps_completions_update_the_policy_after_each_and_the_clip_bites()
    {
        using var dir = new TempDir();
        var once = Config(dir.Path, "once") with { Training = Config(dir.Path).Training with { MaxSteps = 8 } };
        var thrice = once with { Grpo = once.Grpo with { NumIterations = 3 }, OutputDir = Path.Combine(dir.Path, "3") };
        // stopped at step 4, so its checkpoint stays (a finished run removes its checkpoints)
        TrainingReport Run(TrainingConfig config)
        {
            using var cts = new CancellationTokenSource();
            using var trainer = Trainer.Create(config, rewardFunctions: [new GoodTokens()]);
            return trainer.Train(new StopAtStep(4, cts), cts.Token);
        }
        TrainingReport one = Run(once), three = Run(thrice);

        // One update per pass: the optimizer counted 3 a step (its "step" metadata is what a resume continues from).
        long Updates(TrainingConfig config)
        {
            var checkpoint = TrainingCheckpoints.List(config.OutputDir).Single().Path;
            using var file = FineTune.Models.Checkpoints.SafeTensorsFile.Open(Path.Combine(checkpoint,
                TrainingCheckpoints.OptimizerFile));
            return long.Parse(file.Metadata["step"], System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.Equal((4, 12), (Updates(once), Updates(thrice)));
        // The first step sampled the same completions; its first pass has the ratio 1, the later ones do not.
        Assert.Equal(one.History[0].Rollout!["reward"], three.History[0].Rollout!["reward"]);
        Assert.All(one.History, h => Assert.Equal(0, h.Rollout!["clip_fraction"]));
        Assert.Contains(three.History, h => h.Rollout!["clip_fraction"] > 0);
        Assert.NotEqual(one.History[1].Rollout!["reward"], three.History[1].Rollout!["reward"]);
    }

    [Theory]
    [InlineData("lora")]
    [InlineData("dora")]
    [InlineData("qlora")]
    [InlineData("full")]
    public void The_cpu_engine_over_a_merged_copy_answers_as_the_policy_with_its_adapter_does(string method)
    {
        using var dir = new TempDir();
        var config = Config(dir.Path) with
        {
            Method = ConfigNames.Parse<TrainingMethod>(method),
            Training = Config(dir.Path).Training with { MaxSteps = 3 },
            Lora = Config(dir.Path).Lora with { UseDora = method == "dora", QuantizeBase = method == "qlora" },
        };
        using var trainer = Trainer.Create(config, rewardFunctions: [new GoodTokens()]);
        trainer.Train();   // the adapter (or the weights) moved away from the base
        var policy = trainer.Model;
        policy.eval();
        var prompts = Enumerable.Range(0, 6).Select(i => Enumerable.Range(1, 5 + i).Select(t => (t * 7 + i) % 40)
            .ToArray()).ToList();
        var greedy = new Models.Generation.GenerationOptions { MaxNewTokens = 8, Temperature = 0 };
        var torchAnswers = Recipes.Rollouts.Sample(policy, prompts, 1, greedy, (_, _) => 0, []);
        using var cpu = Models.Inference.CpuLlama.Load(policy.Config, MergedCopy.Reader(policy)!, 1);
        var cpuAnswers = Recipes.Rollouts.Sample(cpu, prompts, 1, greedy, (_, _) => 0, []);
        Assert.Equal(torchAnswers, cpuAnswers);
        // and the merged copy is not the base's: the answers differ from the adapters-off model's
        using (policy.AdaptersDisabled())
            if (method != "full")
                Assert.NotEqual(torchAnswers, Recipes.Rollouts.Sample(policy, prompts, 1, greedy, (_, _) => 0, []));
    }

    [Fact]
    public void Reward_settings_are_checked_when_the_config_loads_and_custom_ones_when_the_run_starts()
    {
        JsonObject Root(JsonNode rewards) => new()
        {
            ["base_model"] = "b", ["data"] = new JsonObject { ["path"] = "d" }, ["output_dir"] = "o",
            ["objective"] = "grpo", ["grpo"] = new JsonObject { ["rewards"] = rewards },
        };
        string Error(JsonNode rewards) =>
            Assert.Throws<TrainingConfigException>(() => TrainingConfigLoader.Parse(Root(rewards), "c.json")).Message;
        Assert.Contains("grpo.rewards' needs at least one reward function", Error(new JsonArray()));
        Assert.Contains("grpo.rewards[0].type' must be one of",
            Error(new JsonArray(new JsonObject { ["type"] = "vibes" })));
        Assert.Contains("grpo.rewards[0].pattern' is not a valid regular expression",
            Error(new JsonArray(new JsonObject { ["type"] = "regex", ["pattern"] = "([a-z" })));
        Assert.Contains("grpo.rewards[1].target' is required",
            Error(new JsonArray(new JsonObject { ["type"] = "json_valid" }, new JsonObject { ["type"] = "length" })));
        Assert.Contains("unknown key 'grpo.rewards[0].weigth'",
            Error(new JsonArray(new JsonObject { ["type"] = "json_valid", ["weigth"] = 2 })));

        using var dir = new TempDir();
        var e = Assert.Throws<TrainingConfigException>(() => Trainer.Create(Config(dir.Path)));
        Assert.Contains("no custom reward function named 'good_tokens' was given (given: none)", e.Message);
        var text = Config(dir.Path) with
        {
            Grpo = Config(dir.Path).Grpo with { Rewards = [new RewardSpec { Type = "json_valid" }] },
        };
        e = Assert.Throws<TrainingConfigException>(() => Trainer.Create(text));
        Assert.Contains("no tokenizer files", e.Message);
    }
}
