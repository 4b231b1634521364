// What a run reports: metrics per logged step and per evaluation, the progress event a front end draws, and the
// resumable state a checkpoint stores besides the weights and the optimizer.
namespace FineTune.Training;

/// <summary>One optimizer step. Loss is the mean over the step's trained tokens (SFT) or pairs (DPO, reward
/// model).</summary>
public sealed record StepMetrics
{
    public required int Step { get; init; }
    public required double Epoch { get; init; }
    public required double TrainLoss { get; init; }
    /// <summary>SFT: argmax hits over trained tokens; DPO and reward model: the share of pairs whose chosen reward
    /// beats the rejected one.</summary>
    public required double TokenAccuracy { get; init; }
    public required double LearningRate { get; init; }
    public required double GradNorm { get; init; }
    public required long Tokens { get; init; }
    public required double TokensPerSecond { get; init; }
    public required long PeakMemoryBytes { get; init; }
    public double? RewardChosen { get; init; }
    public double? RewardRejected { get; init; }
    public double? RewardMargin { get; init; }
    /// <summary>GRPO: the rollout's numbers — reward (mean total) and reward_std, reward/NAME and reward/NAME_std per
    /// function, zero_std_groups, kl, completion_length, clip_fraction, rollout_seconds,
    /// rollout_tokens_per_second.</summary>
    public IReadOnlyDictionary<string, double>? Rollout { get; init; }
}

public sealed record EvalMetrics(int Step, double ValidLoss, double TokenAccuracy, long Tokens, double Seconds)
{
    public double Perplexity => Math.Exp(ValidLoss);

    /// <summary>Preference recipes: the mean margin r_chosen − r_rejected over the validation pairs (DPO's implicit
    /// rewards, a reward model's scores); null otherwise.</summary>
    public double? RewardMargin { get; init; }

    /// <summary>GRPO: the mean reward per function (and "reward", the weighted total) of greedy answers to the
    /// validation prompts; valid_loss is then minus that total.</summary>
    public IReadOnlyDictionary<string, double>? Rewards { get; init; }

    /// <summary>The model's answers to a few fixed validation prompts at this evaluation
    /// (eval.sample_prompts).</summary>
    public IReadOnlyList<SampleAnswer>? Samples { get; init; }
}

public sealed record TrainingProgress(int Step, int TotalSteps, StepMetrics? Metrics, EvalMetrics? Eval,
    string? Message)
{
    public TimeSpan Elapsed { get; init; }

    /// <summary>Time left at the pace of the steps this process has run (evaluations and checkpoints
    /// included).</summary>
    public TimeSpan? Remaining { get; init; }

    /// <summary>"1h02m", "12m05s", "45s".</summary>
    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m"
        : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{Math.Ceiling(t.TotalSeconds):0}s";
}

/// <summary>trainer_state.json: everything besides weights and optimizer moments that an exact resume needs.</summary>
public sealed record TrainerState
{
    public required int Step { get; init; }
    public required int Epoch { get; init; }
    /// <summary>Optimizer steps already taken within <see cref="Epoch"/>: the data position.</summary>
    public required int StepInEpoch { get; init; }
    public required long TokensSeen { get; init; }
    public required double Seconds { get; init; }
    /// <summary>libtorch's CPU generator state (dropout), base64.</summary>
    public required string RngState { get; init; }
    public double? BestValidLoss { get; init; }
    public int? BestStep { get; init; }
    public int EvalsWithoutImprovement { get; init; }
    public required IReadOnlyList<StepMetrics> History { get; init; }
    public required IReadOnlyList<EvalMetrics> Evals { get; init; }
    /// <summary>The resolved config of the run that wrote it (resume refuses a different one).</summary>
    public required string ConfigJson { get; init; }
}
