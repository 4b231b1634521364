// The artifact store over S3/MinIO with the Minio 7 client. The SHA-256 travels as user metadata x-amz-meta-sha256;
// uploads stream from disk (the client goes multipart from 5 MiB, in 16 MiB parts it buffers one at a time);
// downloads land in a temporary file and are renamed only when hash and size match the ArtifactRef.
using System.Runtime.CompilerServices;
using FineTune.Contracts;
using Minio;
using Minio.DataModel.Args;
using Minio.Exceptions;

namespace FineTune.Artifacts;

public sealed class S3ArtifactStore : IArtifactStore, IBucketNotifications, IDisposable
{
    const string Sha256Header = "x-amz-meta-sha256";
    readonly IMinioClient _client;
    readonly bool _ownsClient;

    /// <summary>Over a client the caller owns (and disposes).</summary>
    public S3ArtifactStore(IMinioClient client)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
    }

    /// <summary>Over a client built from <paramref name="options"/>, disposed with the store.</summary>
    public S3ArtifactStore(S3Options options) : this(CreateClient(options)) => _ownsClient = true;

    public static IMinioClient CreateClient(S3Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Endpoint, nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.AccessKey, nameof(options));
        ArgumentException.ThrowIfNullOrWhiteSpace(options.SecretKey, nameof(options));
        var (endpoint, ssl) = (options.Endpoint, options.UseSsl);
        if (endpoint.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || endpoint.StartsWith("https://",
            StringComparison.OrdinalIgnoreCase))
        {
            var url = new Uri(endpoint);
            if (url.AbsolutePath != "/")
                throw new ArgumentException($"S3 endpoint '{endpoint}' has a path; give only scheme, host and port " +
                    $"(e.g. 'http://127.0.0.1:9479').", nameof(options));
            (endpoint, ssl) = (url.Authority, url.Scheme == Uri.UriSchemeHttps);
        }
        var client = new MinioClient().WithEndpoint(endpoint).WithCredentials(options.AccessKey,
            options.SecretKey).WithSSL(ssl);
        if (options.Region is { Length: > 0 } region)
            client = client.WithRegion(region);
        return client.Build();
    }

    public async Task EnsureBucketsAsync(IEnumerable<string> buckets, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(buckets);
        foreach (var bucket in buckets)
        {
            ArtifactKeys.ValidateBucket(bucket, nameof(buckets));
            if (await BucketExistsAsync(bucket, ct))
                continue;
            try
            {
                await _client.MakeBucketAsync(new MakeBucketArgs().WithBucket(bucket), ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // BucketAlreadyOwnedByYou / BucketAlreadyExists (409): another host created it meanwhile.
                if (!await BucketExistsAsync(bucket, ct))
                    throw;
            }
        }
    }

    public async Task<ArtifactRef> PutFileAsync(string bucket, string key, string path, CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"cannot upload '{path}' to {bucket}/{key}: file not found (did the " +
                $"stage write it?)", path);
        // The hash must be known before the first byte goes out: it is sent as metadata with the request headers.
        var sha256 = await ArtifactKeys.Sha256OfFileAsync(path, ct);
        return await UploadAsync(bucket, key, path, sha256, ct);
    }

    public async Task<ArtifactRef> PutStreamAsync(string bucket, string key, Stream content,
        CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        ArgumentNullException.ThrowIfNull(content);
        var temp = Path.Combine(Path.GetTempPath(), $"finetune-put-{Guid.NewGuid():N}");
        try
        {
            string sha256;
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16,
                FileOptions.Asynchronous))
                (sha256, _) = await HashingCopy.CopyAsync(content, file, ct);
            return await UploadAsync(bucket, key, temp, sha256, ct);
        }
        finally
        {
            File.Delete(temp);
        }
    }

    async Task<ArtifactRef> UploadAsync(string bucket, string key, string path, string sha256, CancellationToken ct)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
            FileOptions.Asynchronous | FileOptions.SequentialScan);
        var bytes = file.Length;
        using var reading = new HashingReadStream(file);
        var args = new PutObjectArgs().WithBucket(bucket).WithObject(key)
            .WithStreamData(reading).WithObjectSize(bytes).WithContentType("application/octet-stream")
            .WithHeaders(new Dictionary<string, string>(StringComparer.Ordinal) { [Sha256Header] = sha256 });
        try
        {
            await _client.PutObjectAsync(args, ct);
        }
        catch (BucketNotFoundException)
        {
            throw MissingBucket(bucket);
        }
        // What went out must be what was hashed, or the object's metadata would promise bytes it does not hold.
        if (reading.BytesRead != bytes || reading.Sha256() != sha256)
        {
            await DeleteAsync(bucket, key, CancellationToken.None);
            throw new IOException($"'{path}' changed while it was uploaded to {bucket}/{key}, so the object was " +
                $"removed (is another process still writing the file?).");
        }
        return new ArtifactRef(bucket, key, sha256, bytes);
    }

    public async Task GetFileAsync(ArtifactRef artifact, string path, CancellationToken ct = default)
    {
        VerifiedDownload.ThrowIfInvalid(artifact);
        await using var download = VerifiedDownload.Start(artifact, path);
        try
        {
            // The client stats first (so an error body never reaches the callback), then streams the body to it.
            var args = new GetObjectArgs().WithBucket(artifact.Bucket).WithObject(artifact.Key)
                .WithCallbackStream(download.ReceiveAsync);
            await _client.GetObjectAsync(args, ct);
        }
        catch (Exception e) when (e is ObjectNotFoundException or BucketNotFoundException)
        {
            throw new ArtifactNotFoundException(artifact.Bucket, artifact.Key);
        }
        download.Commit();
    }

    public async Task<ArtifactInfo?> StatAsync(string bucket, string key, CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        try
        {
            var stat = await _client.StatObjectAsync(new StatObjectArgs().WithBucket(bucket).WithObject(key), ct);
            return new ArtifactInfo(bucket, key, stat.Size, stat.ETag,
                Sha256FromMetadata([.. stat.MetaData, .. stat.ExtraHeaders]), Utc(stat.LastModified));
        }
        catch (Exception e) when (e is ObjectNotFoundException or BucketNotFoundException)
        {
            return null;
        }
    }

    public async IAsyncEnumerable<ArtifactInfo> ListAsync(string bucket, string prefix = "",
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidatePrefix(prefix);
        // S3 lists in key order, but s3rver walks its folders ('a/b' before 'a-b/c'): collect and sort, so the order
        // holds on every server. A listing here is one run's or one stage's prefix, small enough to hold.
        var listed = new List<ArtifactInfo>();
        var args = new ListObjectsArgs().WithBucket(bucket).WithPrefix(prefix).WithRecursive(true);
        try
        {
            await foreach (var item in _client.ListObjectsEnumAsync(args, ct))
                // Listings carry no user metadata on plain S3 (MinIO's metadata=true is an extension): Sha256 null.
                if (!item.IsDir)
                    listed.Add(new ArtifactInfo(bucket, item.Key, (long)item.Size, item.ETag ?? "", null,
                        Utc(item.LastModifiedDateTime ?? default)));
        }
        catch (BucketNotFoundException)
        {
            throw MissingBucket(bucket);
        }
        listed.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
        foreach (var info in listed)
            yield return info;
    }

    public async Task DeleteAsync(string bucket, string key, CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(key);
        try
        {
            await _client.RemoveObjectAsync(new RemoveObjectArgs().WithBucket(bucket).WithObject(key), ct);
        }
        // already gone
        catch (Exception e) when (e is ObjectNotFoundException or BucketNotFoundException)
        {
        }
    }

    public void Dispose()
    {
        if (_ownsClient)
            _client.Dispose();
    }

    /// <summary>The client strips "x-amz-meta-" from stat metadata; other paths keep the header name in some
    /// casing.</summary>
    internal static string? Sha256FromMetadata(IEnumerable<KeyValuePair<string, string>> metadata)
    {
        foreach (var (name, value) in metadata)
            if ((name.Equals("sha256", StringComparison.OrdinalIgnoreCase) || name.Equals(Sha256Header,
                StringComparison.OrdinalIgnoreCase))
                && value?.Trim().ToLowerInvariant() is { Length: 64 } sha && sha.All(char.IsAsciiHexDigitLower))
                return sha;
        return null;
    }

    async Task<bool> BucketExistsAsync(string bucket, CancellationToken ct) =>
        await _client.BucketExistsAsync(new BucketExistsArgs().WithBucket(bucket), ct);

    static InvalidOperationException MissingBucket(string bucket) =>
        new($"bucket '{bucket}' does not exist on the S3 endpoint (call EnsureBucketsAsync first; in the pipeline " +
            $"the provisioner does).");

    // The client parses HTTP dates with DateTime.Parse, which yields local time.
    static DateTimeOffset Utc(DateTime time) => time.Kind switch
    {
        DateTimeKind.Utc => new DateTimeOffset(time),
        DateTimeKind.Local => new DateTimeOffset(time.ToUniversalTime()),
        _ => new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)),
    };

    public async Task EnableObjectCreatedNotificationsAsync(string bucket, string queueArn,
        CancellationToken ct = default)
    {
        ArtifactKeys.ValidateBucket(bucket);
        ArgumentException.ThrowIfNullOrWhiteSpace(queueArn);
        var queue = new Minio.DataModel.Notification.QueueConfig(queueArn);
        queue.AddEvents([Minio.DataModel.Notification.EventType.ObjectCreatedAll]);
        var notification = new Minio.DataModel.Notification.BucketNotification();
        notification.AddQueue(queue);
        await _client.SetBucketNotificationsAsync(new SetBucketNotificationsArgs().WithBucket(bucket)
            .WithBucketNotificationConfiguration(notification), ct);
    }
}
