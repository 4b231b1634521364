// Tokenization's conversation: a cleaned dataset becomes training shards for the run's base model.
// Version 1. Append-only.
namespace FineTune.Contracts;

/// <summary>Event: the prepared dataset was tokenized with the base model's tokenizer and chat template.</summary>
public sealed record DatasetTokenized
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    /// <summary>Bundle: train/validation/test shards and manifest.json (docs/shard-format.md).</summary>
    public required ArtifactRef Shards { get; init; }
    /// <summary>The prepared dataset the shards came from (its test split feeds evaluation).</summary>
    public required ArtifactRef Prepared { get; init; }
    public required ArtifactRef BaseModel { get; init; }
    public required long TrainExamples { get; init; }
    public required long TrainTokens { get; init; }
    public required ArtifactRef Settings { get; init; }
}
