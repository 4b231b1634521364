// An IArtifactStore wrapper that holds back downloads of the keys ending with a suffix until the test releases them:
// the browser test holds the training stage at its config download, so the run page is open before the first step
// whatever the machine's speed, and watches the loss chart grow from there.
using FineTune.Artifacts;
using FineTune.Contracts;

namespace FineTune.Console.Tests;

sealed class HeldStore(IArtifactStore inner, string keySuffix, Task released) : IArtifactStore
{
    public Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default) =>
        inner.EnsureBucketsAsync(buckets, ct);

    public Task<ArtifactRef> PutFileAsync(string bucket, string key, string path, CancellationToken ct = default) =>
        inner.PutFileAsync(bucket, key, path, ct);

    public Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content,
        CancellationToken ct = default) => inner.PutStreamAsync(bucket, key, content, ct);

    public async Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default)
    {
        if (artifact.Key.EndsWith(keySuffix, StringComparison.Ordinal))
            await released.WaitAsync(ct);
        await inner.GetFileAsync(artifact, path, ct);
    }

    public Task<ArtifactInfo?> StatAsync(string bucket, string key, CancellationToken ct = default) =>
        inner.StatAsync(bucket, key, ct);

    public IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "",
        CancellationToken ct = default) => inner.ListAsync(bucket, prefix, ct);

    public Task DeleteAsync(string bucket, string key, CancellationToken ct = default) =>
        inner.DeleteAsync(bucket, key, ct);
}

/// <summary>Releases the held downloads when disposed: a test that fails while they are held must not leave a stage
/// waiting while its pipeline stops.</summary>
sealed class ReleaseOnExit(TaskCompletionSource released) : IDisposable
{
    public void Dispose() => released.TrySetResult();
}
