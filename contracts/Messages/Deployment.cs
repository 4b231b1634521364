// Deployment's conversation: the model registry's aliases move only through the gate, or back by a rollback.
// Version 1. Append-only.
namespace FineTune.Contracts;

/// <summary>Event: <see cref="Alias"/> (normally <c>production</c>) now points at <see cref="ModelVersion"/>. The
/// serving endpoint loads <see cref="Model"/> over <see cref="BaseModel"/> when it sees this.</summary>
public sealed record ModelPromoted
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required string Alias { get; init; }
    public required int ModelVersion { get; init; }
    public int? PreviousVersion { get; init; }
    public required ArtifactRef Model { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    public required string Kind { get; init; }
}

/// <summary>Event: the gate kept the baseline; the candidate stays registered (alias <c>candidate</c>) with the
/// reasons.</summary>
public sealed record ModelRejected
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required int ModelVersion { get; init; }
    public required IReadOnlyList<string> Reasons { get; init; }
}

/// <summary>Command: promote a version by hand. Allowed only for a version whose evaluation passed the gate.</summary>
public sealed record PromoteModel
{
    /// <summary>The operation's id (correlation id of the command and its outcome).</summary>
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required int ModelVersion { get; init; }
    public string Alias { get; init; } = "production";
}

/// <summary>Command: point <see cref="Alias"/> back at the version it had before the current one.</summary>
public sealed record RollBackDeployment
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public string Alias { get; init; } = "production";
    public string? Reason { get; init; }
}

/// <summary>Event: a rollback moved <see cref="Alias"/> from <see cref="FromVersion"/> to <see
/// cref="ToVersion"/>.</summary>
public sealed record ModelRolledBack
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required string Alias { get; init; }
    public required int FromVersion { get; init; }
    public required int ToVersion { get; init; }
    public required ArtifactRef Model { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    public required string Kind { get; init; }
}
