// What a "metrics" event holds for each kind of step (the data the console's charts and `finetune events` read): a
// DPO step's implicit rewards and margin, an evaluation's validation margin, a GRPO step's reward and KL, and the
// run's step numbering across stages. (The trainer's own tests show DPO steps carry these rewards.)
using FineTune.Pipeline.Training;
using FineTune.Training;

namespace FineTune.Pipeline.Tests;

public sealed class TrainingMetricsEventTests
{
    static StepMetrics Step(int step) => new()
    {
        Step = step, Epoch = 0.5, TrainLoss = 0.68, TokenAccuracy = 0.75, LearningRate = 1e-4, GradNorm = 1,
        Tokens = 512, TokensPerSecond = 900, PeakMemoryBytes = 0,
    };

    [Fact]
    public void A_dpo_step_carries_its_rewards_and_margin_and_an_evaluation_its_validation_margin()
    {
        var single = new TrainingJobRunner.StageInfo(0, 1, "dpo", 0);
        var step = TrainingJobRunner.MetricsData(new TrainingProgress(3, 10,
            Step(3) with { RewardChosen = 0.25, RewardRejected = -0.5 }, null, null), single, 0.7);
        Assert.Equal((3, 10, 0.68, 0.7), ((int)step["step"]!, (int)step["total_steps"]!, (double)step["train_loss"]!,
            (double)step["valid_loss"]!));
        Assert.Equal((0.25, -0.5, 0.75), ((double)step["reward_chosen"]!, (double)step["reward_rejected"]!,
            (double)step["reward_margin"]!));
        Assert.False(step.ContainsKey("valid_reward_margin") || step.ContainsKey("kl") || step.ContainsKey("stage"));

        var eval = TrainingJobRunner.MetricsData(new TrainingProgress(4, 10, null,
            new EvalMetrics(4, 0.6, 0.8, 100, 1) { RewardMargin = 1.5 }, null), single, 0.6);
        Assert.Equal((1.5, 0.6), ((double)eval["valid_reward_margin"]!, (double)eval["full_valid_loss"]!));
        Assert.False(eval.ContainsKey("reward_margin"));

        var sft = TrainingJobRunner.MetricsData(new TrainingProgress(1, 10, Step(1), null, null), single, null);
        Assert.False(sft.ContainsKey("reward_chosen") || sft.ContainsKey("reward"));
    }

    [Fact]
    public void A_grpo_step_in_a_second_stage_carries_reward_and_kl_under_the_runs_step_numbers()
    {
        var second = new TrainingJobRunner.StageInfo(1, 2, "grpo", 40);
        var data = TrainingJobRunner.MetricsData(new TrainingProgress(2, 5, Step(2) with
        {
            Rollout = new Dictionary<string, double> { ["reward"] = 0.4, ["kl"] = 0.02, ["clip_fraction"] = 0.1 },
        }, null, null), second, null);
        Assert.Equal((42, 45, 2, "grpo"), ((int)data["step"]!, (int)data["total_steps"]!, (int)data["stage"]!,
            (string)data["objective"]!));
        Assert.Equal((0.4, 0.02), ((double)data["reward"]!, (double)data["kl"]!));
        Assert.False(data.ContainsKey("clip_fraction"));
    }
}
