// An IArtifactStore wrapper that counts uploads and downloads, so tests can tell what a bundle operation transferred.
using FineTune.Contracts;

namespace FineTune.Artifacts.Tests;

sealed class CountingStore(IArtifactStore inner) : IArtifactStore
{
    public int Puts { get; private set; }
    public int Gets { get; private set; }

    public void Reset() => (Puts, Gets) = (0, 0);

    public Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default) =>
        inner.EnsureBucketsAsync(buckets, ct);

    public Task<ArtifactRef> PutFileAsync(string bucket, string key, string path, CancellationToken ct = default)
    {
        Puts++;
        return inner.PutFileAsync(bucket, key, path, ct);
    }

    public Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content, CancellationToken ct = default)
    {
        Puts++;
        return inner.PutStreamAsync(bucket, key, content, ct);
    }

    public Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default)
    {
        Gets++;
        return inner.GetFileAsync(artifact, path, ct);
    }

    public Task<ArtifactInfo?> StatAsync(string bucket, string key,
        CancellationToken ct = default) => inner.StatAsync(bucket, key, ct);

    public IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "",
        CancellationToken ct = default) => inner.ListAsync(bucket, prefix, ct);

    public Task DeleteAsync(string bucket, string key, CancellationToken ct = default) => inner.DeleteAsync(bucket,
        key, ct);
}
