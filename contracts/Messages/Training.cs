// Training's conversation: a job is requested, reports progress, and ends with a trained model version.
// Version 1. Append-only.
namespace FineTune.Contracts;

/// <summary>Command: train run <see cref="RunId"/>. The consumer only records the job; a worker runs it (a delivery
/// must be acknowledged within RabbitMQ's 30-minute timeout, and training takes longer).</summary>
public sealed record TrainingRequested
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required ArtifactRef Shards { get; init; }
    public required ArtifactRef Prepared { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    /// <summary>The resolved training config (JSON, docs/training-config.md) this run trains with.</summary>
    public required ArtifactRef Config { get; init; }
    /// <summary>Continue from this adapter (the production one) instead of from the bare base; null trains from the
    /// base.</summary>
    public ArtifactRef? InitialAdapter { get; init; }
    public required ArtifactRef Settings { get; init; }
}

/// <summary>Event: a training step or evaluation was logged (OpenAI's metrics event: step, train_loss, valid_loss,
/// …).</summary>
public sealed record TrainingProgressed
{
    public required Guid RunId { get; init; }
    public required int Step { get; init; }
    public required int TotalSteps { get; init; }
    public required double TrainLoss { get; init; }
    public double? ValidLoss { get; init; }
    public double? FullValidLoss { get; init; }
    public double? MeanTokenAccuracy { get; init; }
    public double? TokensPerSecond { get; init; }
    public double? LearningRate { get; init; }
}

/// <summary>Event: training finished and the result is registered as model version <see cref="ModelVersion"/> of the
/// project (a candidate until the gate decides).</summary>
public sealed record ModelTrained
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required int ModelVersion { get; init; }
    /// <summary>Bundle: the PEFT adapter (or full model) the run produced.</summary>
    public required ArtifactRef Model { get; init; }
    /// <summary>training_report.json.</summary>
    public required ArtifactRef Report { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    public required ArtifactRef Prepared { get; init; }
    /// <summary><c>adapter</c> (PEFT directory applied over <see cref="BaseModel"/>) or <c>model</c> (a full
    /// checkpoint).</summary>
    public required string Kind { get; init; }
    public required ArtifactRef Settings { get; init; }
    /// <summary>The base model the run was given, when <see cref="BaseModel"/> is another one (earlier training
    /// stages merged into it); null: the same. What the candidate is compared with when the project has no
    /// production model.</summary>
    public ArtifactRef? RunBaseModel { get; init; }
}
