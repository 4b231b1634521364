// Rows of the run registry as the pipeline reads them. Times are UTC.
using FineTune.Contracts;

namespace FineTune.Registry;

public sealed record RawObjectClaim(Guid RunId, bool IsNew);

public sealed record RawObjectRecord(string Project, string Bucket, string Key, string ETag, string Sha256, long Bytes,
    Guid RunId,
    DateTimeOffset SeenAt);

/// <summary>A pipeline run. Decision: null until the gate decides, then <c>promoted</c> or <c>rejected</c>.</summary>
public sealed record RunRecord(Guid RunId, string Project, string Status, string Trigger, string SourceBucket,
    string SourceKey,
    string? Error, string? Decision, IReadOnlyList<string> Reasons, int? ModelVersion, DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt, DateTimeOffset? FinishedAt);

public sealed record ProjectRecord(string Project, int Runs, int Active, DateTimeOffset LastRunAt);

public sealed record StageRecord(Guid RunId, string Stage, string Status, int Attempts, DateTimeOffset StartedAt,
    DateTimeOffset? FinishedAt, string? Error)
{
    public double? Seconds => FinishedAt is { } f ? (f - StartedAt).TotalSeconds : null;
}

public sealed record ArtifactRecord(Guid RunId, string Kind, ArtifactRef Artifact, DateTimeOffset CreatedAt);

public sealed record LineageEdge(Guid RunId, ArtifactRef From, ArtifactRef To, string Relation,
    DateTimeOffset CreatedAt);

public sealed record DatasetRecord(Guid RunId, string Project, ArtifactRef Prepared, ArtifactRef DataCard,
    long Examples,
    long Rejected, DateTimeOffset CreatedAt);

public sealed record ModelVersionRecord(string Project, int Version, Guid RunId, ArtifactRef Model,
    ArtifactRef BaseModel, string Kind,
    DateTimeOffset CreatedAt);

/// <summary>Metrics are JSON objects (metric name → value); Reasons one line per gate rule.</summary>
public sealed record EvaluationRecord(string Project, int Version, Guid RunId, int? BaselineVersion, bool Promote,
    IReadOnlyList<string> Reasons, string CandidateMetricsJson, string BaselineMetricsJson, ArtifactRef Gate,
        DateTimeOffset CreatedAt);

public sealed record AliasRecord(string Project, string Alias, int Version, DateTimeOffset UpdatedAt);

public sealed record DeploymentRecord(long Id, string Project, string Alias, int Version, int? PreviousVersion,
    Guid RunId, string Reason,
    DateTimeOffset CreatedAt);

/// <summary>Status: queued, running, succeeded, failed, cancelled.</summary>
public sealed record TrainingJobRecord(Guid RunId, string Status, string RequestJson, string? WorkerId,
    DateTimeOffset? LeaseUntil,
    int Attempts, string? Error, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Level info|warn|error; Type message|metrics (OpenAI's job events). Seq orders a run's events.</summary>
public sealed record RunEventRecord(long Seq, Guid RunId, DateTimeOffset CreatedAt, string Level, string Type,
    string Message, string? DataJson);

public sealed record CheckpointRecord(Guid RunId, int Step, ArtifactRef Artifact, string MetricsJson,
    DateTimeOffset CreatedAt);

/// <summary>A progressive release (policy canary or shadow) of Version beside BaselineVersion, production when it
/// started. Status running, promoted or rolled_back; Reasons and NumbersJson (per-variant live metrics) once decided.
/// </summary>
public sealed record ReleaseRecord(string Project, int Version, int BaselineVersion, Guid RunId, string Policy,
    string SettingsJson, string Status, DateTimeOffset StartedAt, DateTimeOffset? DecidedAt = null,
    IReadOnlyList<string>? Reasons = null, string? NumbersJson = null);

/// <summary>One choice of an answered request (PII redacted). Kind chat (Prompt: the messages as JSON) or text
/// (Prompt: the prompt as a JSON string). Version, ReleaseId and Variant say what answered (variant production,
/// candidate or shadow).</summary>
public sealed record ServedRequestRecord(string Id, int Choice, string Project, int? Version, string? ReleaseId,
    string? Variant, string Kind, string Prompt, string Answer, DateTimeOffset CreatedAt);

/// <summary>A rating of one answer: Rating on 0–1 (thumbs down 0, up 1; stars 1–5 as (n − 1) / 4), Scale thumbs
/// or stars; a correction (the answer it should have been) and a comment are optional.</summary>
public sealed record FeedbackRecord(long Id, string CompletionId, int Choice, string Project, double Rating,
    string Scale, string? Correction, string? Comment, DateTimeOffset CreatedAt, DateTimeOffset? ExportedAt = null,
    string? ExportKey = null);
