// The artifact store as a folder, for the single-process mode and tests: root/{bucket}/{key}, each object's hash in a
// side file root/.meta/{bucket}/{key}.json, writes staged in root/.tmp and renamed into place (atomic on one volume).
using System.Runtime.CompilerServices;
using FineTune.Contracts;

namespace FineTune.Artifacts;

public sealed class LocalArtifactStore : IArtifactStore
{
    const string MetaFolder = ".meta";
    const string TempFolder = ".tmp";

    public LocalArtifactStore(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    public Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        foreach (var bucket in buckets)
        {
            ArtifactKeys.ValidateBucket(bucket, nameof(buckets));
            Directory.CreateDirectory(Path.Combine(Root, bucket));
        }
        return Task.CompletedTask;
    }

    public async Task<ArtifactRef> PutFileAsync(string bucket, string key, string path, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"cannot upload '{path}' to {bucket}/{key}: file not found (did the " +
                $"stage write it?)", path);
        await using var source = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await PutAsync(bucket, key, source, ct);
    }

    public Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(content);
        return PutAsync(bucket, key, content, ct);
    }

    async Task<ArtifactRef> PutAsync(string bucket, string key, Stream source, CancellationToken ct)
    {
        var bucketDir = RequireBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        ThrowIfShadowed(bucketDir, bucket, key);
        var temp = Directory.CreateDirectory(Path.Combine(Root, TempFolder)).FullName;
        var tempData = Path.Combine(temp, Guid.NewGuid().ToString("N"));
        var tempMeta = tempData + ".json";
        try
        {
            (string Sha256, long Bytes) content;
            await using (var file = new FileStream(tempData, FileMode.CreateNew, FileAccess.Write, FileShare.None,
                1 << 16, FileOptions.Asynchronous))
                content = await HashingCopy.CopyAsync(source, file, ct);
            var meta = new LocalObjectMeta(content.Sha256, content.Bytes, content.Sha256, DateTimeOffset.UtcNow,
                File.GetLastWriteTimeUtc(tempData).Ticks);
            await meta.WriteAsync(tempMeta, ct);
            // Data first, then its side file: in between, a reader sees a side file whose Written no longer matches and
            // rehashes.
            LocalFiles.MoveInto(tempData, DataPath(bucket, key));
            LocalFiles.MoveInto(tempMeta, MetaPath(bucket, key));
            return new ArtifactRef(bucket, key, content.Sha256, content.Bytes);
        }
        finally
        {
            LocalFiles.TryDelete(tempData);
            LocalFiles.TryDelete(tempMeta);
        }
    }

    public async Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default)
    {
        VerifiedDownload.ThrowIfInvalid(artifact);
        var data = DataPath(artifact.Bucket, artifact.Key);
        FileStream source;
        try
        {
            if (!File.Exists(data))
                throw new ArtifactNotFoundException(artifact.Bucket, artifact.Key);
            source = new FileStream(data, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1 << 16,
                FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ArtifactNotFoundException(artifact.Bucket, artifact.Key);
        }
        await using (source)
        await using (var download = VerifiedDownload.Start(artifact, path))
        {
            await download.ReceiveAsync(source, ct);
            download.Commit();
        }
    }

    public async Task<ArtifactInfo?> StatAsync(string bucket, string key, CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        var data = new FileInfo(DataPath(bucket, key));
        return data.Exists ? await InfoAsync(bucket, key, data, ct) : null;
    }

    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArtifactKeys.ValidatePrefix(prefix);
        var bucketDir = RequireBucket(bucket);
        // Walk only the deepest folder the prefix names: "a/b/c" lists under a/b and keeps keys starting "a/b/c".
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? bucketDir : Path.Combine(bucketDir, prefix[..slash]);
        if (!Directory.Exists(start))
            yield break;
        var walk = new EnumerationOptions
        {
            RecurseSubdirectories = true, AttributesToSkip = 0,
            IgnoreInaccessible = false
        };
        var keys = Directory.EnumerateFiles(start, "*", walk)
            .Select(f => Path.GetRelativePath(bucketDir, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        foreach (var key in keys)
        {
            ct.ThrowIfCancellationRequested();
            if (await InfoAsync(bucket, key, new FileInfo(DataPath(bucket, key)), ct) is { } info)
                yield return info;
        }
    }

    public Task DeleteAsync(string bucket, string key, CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        var data = DataPath(bucket, key);
        var meta = MetaPath(bucket, key);
        LocalFiles.TryDelete(data);
        LocalFiles.TryDelete(meta);
        LocalFiles.Prune(Path.GetDirectoryName(data)!, Path.Combine(Root, bucket));
        LocalFiles.Prune(Path.GetDirectoryName(meta)!, Path.Combine(Root, MetaFolder, bucket));
        return Task.CompletedTask;
    }

    // The side file when it still describes the data file, else a fresh hash (and a rewritten side file).
    async Task<ArtifactInfo?> InfoAsync(string bucket, string key, FileInfo data, CancellationToken ct)
    {
        try
        {
            var meta = await LocalObjectMeta.ReadAsync(MetaPath(bucket, key), ct);
            if (meta is null || !meta.Describes(data))
                meta = await RehashAsync(bucket, key, data, ct);
            return new ArtifactInfo(bucket, key, meta.Bytes, meta.ETag, meta.Sha256, meta.Created);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;   // deleted while we looked
        }
    }

    async Task<LocalObjectMeta> RehashAsync(string bucket, string key, FileInfo data, CancellationToken ct)
    {
        var written = data.LastWriteTimeUtc;
        var sha = await ArtifactKeys.Sha256OfFileAsync(data.FullName, ct);
        var meta = new LocalObjectMeta(sha, data.Length, sha, new DateTimeOffset(written, TimeSpan.Zero),
            written.Ticks);
        data.Refresh();
        if (data.Exists && data.LastWriteTimeUtc == written && data.Length == meta.Bytes)
        {
            var temp = Path.Combine(Directory.CreateDirectory(Path.Combine(Root, TempFolder)).FullName,
                Guid.NewGuid().ToString("N") + ".json");
            try
            {
                await meta.WriteAsync(temp, ct);
                LocalFiles.MoveInto(temp, MetaPath(bucket, key));
            }
            // best effort: the next reader rehashes again
            catch (IOException)
            {
            }
            finally
            {
                LocalFiles.TryDelete(temp);
            }
        }
        return meta;
    }

    string RequireBucket(string bucket)
    {
        ArtifactKeys.ValidateBucket(bucket);
        var dir = Path.Combine(Root, bucket);
        if (!Directory.Exists(dir))
            throw new InvalidOperationException($"bucket '{bucket}' does not exist in the local store at '{Root}' " +
                $"(call EnsureBucketsAsync first; in the pipeline the provisioner does).");
        return dir;
    }

    // A folder cannot also be a file: the local store cannot hold both 'a' and 'a/b' (S3 can).
    static void ThrowIfShadowed(string bucketDir, string bucket, string key)
    {
        if (Directory.Exists(Path.Combine(bucketDir, key)))
            throw new IOException($"cannot store {bucket}/{key}: objects under '{key}/' exist, and the local store " +
                $"cannot hold both 'x' and 'x/...' (pick another key).");
        for (var slash = key.IndexOf('/'); slash > 0; slash = key.IndexOf('/', slash + 1))
            if (File.Exists(Path.Combine(bucketDir, key[..slash])))
                throw new IOException($"cannot store {bucket}/{key}: object {bucket}/{key[..slash]} exists, and the " +
                    $"local store cannot hold both 'x' and 'x/...' (pick another key).");
    }

    string DataPath(string bucket, string key) => Path.Combine(Root, bucket, key);

    string MetaPath(string bucket, string key) => Path.Combine(Root, MetaFolder, bucket, key + ".json");
}
