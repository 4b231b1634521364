// The artifact store the stages read and write: buckets of immutable objects addressed by key, each with its SHA-256.
// Implementations: LocalArtifactStore (a folder; the single-process mode and tests), S3ArtifactStore (MinIO/S3).
using FineTune.Contracts;

namespace FineTune.Artifacts;

/// <summary>What a listing or a stat returns about one object.</summary>
public sealed record ArtifactInfo(string Bucket, string Key, long Bytes, string ETag, string? Sha256,
    DateTimeOffset LastModified);

/// <summary>Bucket/key storage with integrity: every put records the object's SHA-256, every download verifies
/// it.</summary>
public interface IArtifactStore
{
    /// <summary>Creates the buckets that do not exist yet.</summary>
    Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default);

    /// <summary>Uploads a file (streamed; multipart for large files on S3) and returns its reference. The SHA-256 is
    /// computed while reading and stored with the object (S3 user metadata <c>x-amz-meta-sha256</c>).</summary>
    Task<ArtifactRef> PutFileAsync(string bucket, string key, string path, CancellationToken ct = default);

    /// <summary>Uploads a stream of unknown length (buffered to a temporary file first, so the hash is
    /// known).</summary>
    Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content, CancellationToken ct = default);

    /// <summary>Downloads to <paramref name="path"/> (written to a temporary name, renamed when the hash matches).
    /// Throws <see cref="ArtifactNotFoundException"/> when absent and <see cref="ArtifactIntegrityException"/> on a
    /// hash or size mismatch.</summary>
    Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default);

    /// <summary>The object's info, or null when it does not exist.</summary>
    Task<ArtifactInfo?> StatAsync(string bucket, string key, CancellationToken ct = default);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, recursively, in key order.</summary>
    IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "", CancellationToken ct = default);

    Task DeleteAsync(string bucket, string key, CancellationToken ct = default);
}

/// <summary>The object does not exist (yet): a stage retries, since an upload may still be arriving.</summary>
public sealed class ArtifactNotFoundException(string bucket, string key)
    : Exception($"artifact not found: {bucket}/{key} (was it uploaded, and to this store?)")
{
    public string Bucket { get; } = bucket;
    public string Key { get; } = key;
}

/// <summary>The downloaded bytes are not what the reference promised (corrupt, truncated or overwritten).</summary>
public sealed class ArtifactIntegrityException(string message) : Exception(message);
