// An object in the artifact store: where it is and what it must hash to. Messages carry these, never payloads.
namespace FineTune.Contracts;

/// <summary>
/// A stored object: <paramref name="Bucket"/> and <paramref name="Key"/> locate it, <paramref name="Sha256"/>
/// (lower-case hex of its bytes) and <paramref name="Bytes"/> let a reader verify what it downloaded. A directory (a
/// model, a prepared dataset, tokenized shards) travels as a bundle: the reference points at its <c>manifest.json</c>,
/// which lists every file with its own hash.
/// </summary>
public sealed record ArtifactRef(string Bucket, string Key, string Sha256, long Bytes);

/// <summary>The bucket names the pipeline uses (conventions: one bucket per kind of artifact).</summary>
public static class Buckets
{
    /// <summary>User drops: <c>{project}/{file}</c>. A new object starts a run.</summary>
    public const string Ingestion = "ingestion";
    /// <summary>Prepared datasets: splits, data card, validation report and rejects.</summary>
    public const string Datasets = "datasets";
    /// <summary>Tokenized shards with their manifest.</summary>
    public const string Tokenized = "tokenized";
    /// <summary>Training checkpoints, so that a restarted worker resumes where the last one stopped.</summary>
    public const string Checkpoints = "checkpoints";
    /// <summary>Base models, trained adapters and merged models, with their training reports.</summary>
    public const string Models = "models";
    /// <summary>Evaluation results and gate decisions.</summary>
    public const string Evaluations = "evaluations";

    public static readonly IReadOnlyList<string> All = [Ingestion, Datasets, Tokenized, Checkpoints, Models,
        Evaluations];
}
