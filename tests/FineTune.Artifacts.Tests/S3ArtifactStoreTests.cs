// The store contract over S3ArtifactStore against a real S3 endpoint (s3rver from scripts/infra-start.sh; skipped
// when FINETUNE_S3_* is unset), plus what only S3 can get wrong: metadata spellings, multipart and options.
using Minio;
using Minio.DataModel.Args;
using Xunit.Abstractions;

namespace FineTune.Artifacts.Tests;

[Trait("Kind", "integration")]
public sealed class S3ArtifactStoreTests(ITestOutputHelper output) : ArtifactStoreContract(output)
{
    static S3Options Options()
    {
        var (endpoint, accessKey, secretKey) = TestServers.RequireS3();
        return new S3Options { Endpoint = endpoint, AccessKey = accessKey, SecretKey = secretKey };
    }

    protected override IArtifactStore CreateStore() => new S3ArtifactStore(Options());

    protected override async Task TamperAsync(string bucket, string key, byte[] bytes)
    {
        using var raw = S3ArtifactStore.CreateClient(Options());
        await raw.PutObjectAsync(new PutObjectArgs().WithBucket(bucket).WithObject(key)
            .WithStreamData(new MemoryStream(bytes)).WithObjectSize(bytes.Length));
    }

    protected override async Task RemoveBucketAsync(IArtifactStore store, string bucket)
    {
        await foreach (var item in store.ListAsync(bucket))
            await store.DeleteAsync(bucket, item.Key);
        using var raw = S3ArtifactStore.CreateClient(Options());
        await raw.RemoveBucketAsync(new RemoveBucketArgs().WithBucket(bucket));
    }

    [SkippableFact]
    public async Task Stat_reads_a_sha256_that_another_client_wrote_as_metadata()
    {
        var store = await StoreAsync();
        var sha = ArtifactKeys.Sha256OfText("hello");
        using var raw = S3ArtifactStore.CreateClient(Options());
        await raw.PutObjectAsync(new PutObjectArgs().WithBucket(Bucket).WithObject("other/hello.txt")
            .WithStreamData(new MemoryStream("hello"u8.ToArray())).WithObjectSize(5)
            .WithHeaders(new Dictionary<string, string> { ["X-Amz-Meta-Sha256"] = sha.ToUpperInvariant() }));
        Assert.Equal(sha, (await store.StatAsync(Bucket, "other/hello.txt"))!.Sha256);

        await raw.PutObjectAsync(new PutObjectArgs().WithBucket(Bucket).WithObject("other/plain.txt")
            .WithStreamData(new MemoryStream("hi"u8.ToArray())).WithObjectSize(2));
        Assert.Null((await store.StatAsync(Bucket, "other/plain.txt"))!.Sha256);
    }

    [SkippableFact]
    public async Task An_object_over_16_MB_goes_up_in_parts_and_keeps_its_metadata()
    {
        await StoreAsync();
        var (endpoint, accessKey, secretKey) = TestServers.RequireS3();
        var requests = new RequestLog();
        using var http = new HttpClient(requests);
        using var client = new MinioClient().WithEndpoint(endpoint).WithCredentials(accessKey,
            secretKey).WithSSL(false).WithHttpClient(http).Build();
        var store = new S3ArtifactStore(client);

        var artifact = await store.PutFileAsync(Bucket, "mp/big.bin", WriteFile("mp.bin", 17 * 1024 * 1024, seed: 7));
        // 16 MiB + 1 MiB
        Assert.Equal(2, requests.Queries.Count(q => q.Contains("partNumber=", StringComparison.Ordinal)));
        Assert.Equal(artifact.Sha256, (await store.StatAsync(Bucket, "mp/big.bin"))!.Sha256);
        await store.GetFileAsync(artifact, Path.Combine(Work, "mp-copy.bin"));
    }

    sealed class RequestLog() : DelegatingHandler(new HttpClientHandler())
    {
        public List<string> Queries { get; } = [];

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            lock (Queries)
                Queries.Add(request.RequestUri?.Query ?? "");
            return base.SendAsync(request, ct);
        }
    }

    [SkippableFact]
    public async Task EnsureBuckets_is_idempotent()
    {
        var store = await StoreAsync();
        await store.EnsureBucketsAsync([Bucket, Bucket]);
    }

    [Theory]
    [InlineData("sha256")]
    [InlineData("X-Amz-Meta-Sha256")]
    [InlineData("x-amz-meta-sha256")]
    [InlineData("SHA256")]
    public void The_sha256_is_found_under_every_metadata_spelling(string name)
    {
        var sha = ArtifactKeys.Sha256OfText("x");
        Assert.Equal(sha,
            S3ArtifactStore.Sha256FromMetadata([new("Content-Type", "application/octet-stream"), new(name, sha)]));
        Assert.Null(S3ArtifactStore.Sha256FromMetadata([new(name, "not-a-hash")]));
    }

    [Fact]
    public void Options_print_without_the_secret_and_accept_a_url_endpoint()
    {
        var options = new S3Options
        {
            Endpoint = "https://s3.example.com", AccessKey = "AK",
            SecretKey = "very-secret"
        };
        Assert.DoesNotContain("very-secret", options.ToString());
        Assert.Contains("AK", options.ToString());
        using var client = S3ArtifactStore.CreateClient(options);
        Assert.True(client.Config.Secure);
        Assert.Throws<ArgumentException>(() =>
            S3ArtifactStore.CreateClient(options with { Endpoint = "http://host:9000/bucket" }));
    }
}
