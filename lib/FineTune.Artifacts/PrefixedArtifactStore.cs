// Several pipelines on one S3 server: every bucket name gets a prefix ("acme-" → "acme-ingestion") on the way in and
// loses it on the way out, so messages and the registry keep the logical names (ingestion, datasets, …).
using System.Runtime.CompilerServices;
using FineTune.Contracts;

namespace FineTune.Artifacts;

public sealed class PrefixedArtifactStore : IArtifactStore, IBucketNotifications
{
    readonly IArtifactStore _inner;
    readonly string _prefix;

    public PrefixedArtifactStore(IArtifactStore inner, string prefix)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArtifactKeys.ValidateBucket(prefix + "ingestion", nameof(prefix));
        (_inner, _prefix) = (inner, prefix);
    }

    string Physical(string bucket)
    {
        ArtifactKeys.ValidateBucket(bucket);   // the logical name obeys the rules too
        return _prefix + bucket;
    }
    ArtifactRef Logical(ArtifactRef a) => a with { Bucket = a.Bucket[_prefix.Length..] };
    ArtifactInfo Logical(ArtifactInfo a) => a with { Bucket = a.Bucket[_prefix.Length..] };

    public Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default) =>
        _inner.EnsureBucketsAsync(buckets.Select(Physical), ct);

    public async Task<ArtifactRef> PutFileAsync(string bucket, string key, string path,
        CancellationToken ct = default) =>
        Logical(await _inner.PutFileAsync(Physical(bucket), key, path, ct));

    public async Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content,
        CancellationToken ct = default) =>
        Logical(await _inner.PutStreamAsync(Physical(bucket), key, content, ct));

    public async Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default)
    {
        try
        {
            await _inner.GetFileAsync(artifact with { Bucket = Physical(artifact.Bucket) }, path, ct);
        }
        catch (ArtifactNotFoundException e)
        {
            throw new ArtifactNotFoundException(artifact.Bucket, e.Key);
        }
    }

    public async Task<ArtifactInfo?> StatAsync(string bucket, string key, CancellationToken ct = default) =>
        await _inner.StatAsync(Physical(bucket), key, ct) is { } info ? Logical(info) : null;

    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var info in _inner.ListAsync(Physical(bucket), prefix, ct))
            yield return Logical(info);
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken ct = default) =>
        _inner.DeleteAsync(Physical(bucket), key, ct);

    public Task EnableObjectCreatedNotificationsAsync(string bucket, string queueArn, CancellationToken ct = default) =>
        _inner is IBucketNotifications notifications
            ? notifications.EnableObjectCreatedNotificationsAsync(Physical(bucket), queueArn, ct)
            : throw new NotSupportedException("the underlying store has no bucket notifications");
}
