// Ingestion's conversation: a file arrives in the ingestion bucket → it is validated and cleaned, or rejected.
// Version 1. Contracts are append-only: new members are optional; a breaking change is a new type.
namespace FineTune.Contracts;

/// <summary>Event: a complete object appeared under <c>ingestion/{Project}/</c> (bucket notification, the
/// reconciliation scan, <c>finetune upload</c> or <c>finetune run</c>). Starts run <see cref="RunId"/>.</summary>
public sealed record DatasetArrived
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required ArtifactRef Source { get; init; }
    /// <summary>The object's ETag when it was seen; with the key it makes the file's identity (processed
    /// once).</summary>
    public required string ETag { get; init; }
    /// <summary><c>drop</c> (a new object), <c>retrain</c> (new data for a project that has a model) or
    /// <c>manual</c>.</summary>
    public required string Trigger { get; init; }
    public required DateTimeOffset DetectedAt { get; init; }
    /// <summary>The base model bundle to fine-tune; null: the ingestion service's configured default.</summary>
    public ArtifactRef? BaseModel { get; init; }
    /// <summary>The pipeline settings (JSON: prepare, tokenize, training, evaluation, gate); null: the service's
    /// default.</summary>
    public ArtifactRef? Settings { get; init; }
}

/// <summary>Event: the dataset passed validation; its splits, data card and rejects are in the datasets
/// bucket.</summary>
public sealed record DatasetCleaned
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    /// <summary>Bundle: train/validation/test.jsonl, data_card.json/.md, rejects.jsonl, duplicates.jsonl.</summary>
    public required ArtifactRef Prepared { get; init; }
    public required ArtifactRef DataCard { get; init; }
    public required long Examples { get; init; }
    public required long Rejected { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    public required ArtifactRef Settings { get; init; }
}

/// <summary>Event: the dataset failed validation (too many rejects, too few examples, unreadable). No training
/// starts.</summary>
public sealed record DatasetRejected
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    /// <summary>The rejects report (one JSON line per rejected record: line, field, reason).</summary>
    public required ArtifactRef Rejects { get; init; }
    public required IReadOnlyList<string> Reasons { get; init; }
}
