// Which artifact store a host uses, from configuration section "Artifacts": an S3 endpoint (MinIO, s3rver) or a
// local folder (the single-process default).
using FineTune.Artifacts;

namespace FineTune.Pipeline;

public sealed record ArtifactStoreOptions
{
    public const string Section = "Artifacts";
    /// <summary>host:port of an S3 server; null: the local folder.</summary>
    public string? S3Endpoint { get; set; }
    public string S3AccessKey { get; set; } = "";
    public string S3SecretKey { get; set; } = "";
    public bool S3UseSsl { get; set; }
    public string LocalDirectory { get; set; } = Path.Combine(Path.GetTempPath(), "finetune-artifacts");
    /// <summary>Prepended to every bucket name ("acme-" → "acme-ingestion"), so several pipelines share one S3
    /// server.</summary>
    public string? BucketPrefix { get; set; }

    public IArtifactStore Create()
    {
        IArtifactStore store = S3Endpoint is { Length: > 0 } endpoint
            ? new S3ArtifactStore(new S3Options
            {
                Endpoint = endpoint, AccessKey = S3AccessKey,
                SecretKey = S3SecretKey, UseSsl = S3UseSsl
            })
            : new LocalArtifactStore(LocalDirectory);
        return BucketPrefix is { Length: > 0 } prefix ? new PrefixedArtifactStore(store, prefix) : store;
    }
}
