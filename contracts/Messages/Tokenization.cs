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
    /// <summary>The sequence limit the examples were tokenized to (the pipeline's tokenize.max_length, or the base
    /// model's context), and the policy for longer ones (right, left, drop). Added in v1.1; null from older
    /// senders.</summary>
    public int? MaxLength { get; init; }
    public string? Truncation { get; init; }
    /// <summary>Per split (train, validation, test): examples kept, of those truncated, and examples dropped.</summary>
    public IReadOnlyDictionary<string, SplitLengthCounts>? Splits { get; init; }
}

/// <summary>What tokenization did to one split's lengths: examples kept (Truncated of them shortened) and
/// dropped.</summary>
public sealed record SplitLengthCounts(long Examples, long Truncated, long Dropped, long Tokens)
{
    /// <summary>Kept examples by token length: the lower bound of each length bucket (one per length below 16, then
    /// eight per doubling: LengthBuckets) → examples. Added in v1.2; null from older senders.</summary>
    public IReadOnlyDictionary<int, long>? Lengths { get; init; }
}
