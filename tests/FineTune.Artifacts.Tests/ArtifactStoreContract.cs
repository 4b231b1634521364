// The behaviour every IArtifactStore must have, run once per store by LocalArtifactStoreTests and S3ArtifactStoreTests:
// verified round trips (20 MB streamed), tampering, absence, listing, deletes and key rules. Bundles: the .Bundles.cs
// half.
using System.Diagnostics;
using FineTune.Contracts;
using Xunit.Abstractions;

namespace FineTune.Artifacts.Tests;

public abstract partial class ArtifactStoreContract(ITestOutputHelper output) : IAsyncLifetime
{
    readonly TempDir _temp = new();
    IArtifactStore? _store;

    /// <summary>One fresh bucket per test.</summary>
    protected string Bucket { get; } = "t-" + Guid.NewGuid().ToString("N")[..12];

    protected string Work => _temp.Path;

    /// <summary>A new store; skips the test when its server is not configured.</summary>
    protected abstract IArtifactStore CreateStore();

    /// <summary>Replaces the stored bytes of bucket/key behind the store's back, leaving its metadata as it
    /// was.</summary>
    protected abstract Task TamperAsync(string bucket, string key, byte[] bytes);

    /// <summary>Removes what the test left in <paramref name="bucket"/> and the bucket itself, where that costs
    /// something.</summary>
    protected virtual Task RemoveBucketAsync(IArtifactStore store, string bucket) => Task.CompletedTask;

    protected async Task<IArtifactStore> StoreAsync()
    {
        if (_store is null)
        {
            _store = CreateStore();
            await _store.EnsureBucketsAsync([Bucket]);
        }
        return _store;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_store is not null)
            await RemoveBucketAsync(_store, Bucket);
        (_store as IDisposable)?.Dispose();
        _temp.Dispose();
    }

    protected string WriteFile(string relative, int bytes, int seed = 1)
    {
        var path = Path.Combine(Work, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var data = new byte[bytes];
        new Random(seed).NextBytes(data);
        File.WriteAllBytes(path, data);
        return path;
    }

    [SkippableFact]
    public async Task Put_then_get_round_trips_the_bytes_and_reports_their_sha256()
    {
        var store = await StoreAsync();
        var source = WriteFile("in/weights.bin", 100_000);

        var artifact = await store.PutFileAsync(Bucket, "stage/run/weights.bin", source);
        Assert.Equal(new ArtifactRef(Bucket, "stage/run/weights.bin", ArtifactKeys.Sha256OfFile(source), 100_000),
            artifact);

        var copy = Path.Combine(Work, "out", "deeper", "weights.bin");
        await store.GetFileAsync(artifact, copy);
        Assert.Equal(File.ReadAllBytes(source), File.ReadAllBytes(copy));
        Assert.Equal(["weights.bin"], Directory.GetFiles(Path.GetDirectoryName(copy)!).Select(Path.GetFileName));
    }

    [SkippableFact]
    public async Task A_20_MB_file_round_trips_streamed()
    {
        var store = await StoreAsync();
        const int size = 20 * 1024 * 1024;
        var source = WriteFile("big.bin", size, seed: 20);

        var clock = Stopwatch.StartNew();
        var artifact = await store.PutFileAsync(Bucket, "big/model.safetensors", source);
        var put = clock.Elapsed;
        clock.Restart();
        var copy = Path.Combine(Work, "big-copy.bin");
        await store.GetFileAsync(artifact, copy);
        var get = clock.Elapsed;

        output.WriteLine($"{GetType().Name}: 20 MiB put {size / 1048576.0 / put.TotalSeconds:F0} MB/s " +
            $"({put.TotalMilliseconds:F0} ms), get {size / 1048576.0 / get.TotalSeconds:F0} MB/s " +
            $"({get.TotalMilliseconds:F0} ms)");
        Assert.Equal(size, artifact.Bytes);
        Assert.Equal(artifact.Sha256, ArtifactKeys.Sha256OfFile(copy));
        var info = await store.StatAsync(Bucket, artifact.Key);
        Assert.Equal((size, artifact.Sha256), (info!.Bytes, info.Sha256));
    }

    [SkippableFact]
    public async Task Put_stream_and_put_file_record_the_same_hash_and_empty_objects_work()
    {
        var store = await StoreAsync();
        var source = WriteFile("a.bin", 4096);
        var fromFile = await store.PutFileAsync(Bucket, "a/file.bin", source);
        await using (var stream = File.OpenRead(source))
        {
            var fromStream = await store.PutStreamAsync(Bucket, "a/stream.bin", stream);
            Assert.Equal((fromFile.Sha256, fromFile.Bytes), (fromStream.Sha256, fromStream.Bytes));
        }

        var empty = await store.PutStreamAsync(Bucket, "a/empty.txt", new MemoryStream());
        Assert.Equal((ArtifactKeys.Sha256OfText(""), 0L), (empty.Sha256, empty.Bytes));
        var copy = Path.Combine(Work, "empty.txt");
        await store.GetFileAsync(empty, copy);
        Assert.Empty(File.ReadAllBytes(copy));
    }

    [SkippableFact]
    public async Task A_tampered_object_fails_the_integrity_check_and_leaves_no_file()
    {
        var store = await StoreAsync();
        var artifact = await store.PutFileAsync(Bucket, "run/report.json", WriteFile("report.json", 2000));
        await TamperAsync(Bucket, artifact.Key, new byte[2000]);

        var copy = Path.Combine(Work, "out", "report.json");
        var e = await Assert.ThrowsAsync<ArtifactIntegrityException>(() => store.GetFileAsync(artifact, copy));
        Assert.Contains($"{Bucket}/run/report.json", e.Message);
        Assert.Contains(artifact.Sha256, e.Message);
        Assert.Contains(ArtifactKeys.Sha256OfStream(new MemoryStream(new byte[2000])), e.Message);
        Assert.Empty(Directory.GetFiles(Path.Combine(Work, "out")));   // neither the file nor its temporary
    }

    [SkippableFact]
    public async Task A_missing_object_throws_ArtifactNotFoundException_and_stats_as_null()
    {
        var store = await StoreAsync();
        var missing = new ArtifactRef(Bucket, "no/such.bin", ArtifactKeys.Sha256OfText("x"), 1);
        var e = await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(missing,
            Path.Combine(Work, "x.bin")));
        Assert.Equal((Bucket, "no/such.bin"), (e.Bucket, e.Key));
        Assert.Null(await store.StatAsync(Bucket, "no/such.bin"));

        var otherBucket = missing with { Bucket = "t-missing-" + Guid.NewGuid().ToString("N")[..8] };
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => store.GetFileAsync(otherBucket,
            Path.Combine(Work, "y.bin")));
        Assert.Null(await store.StatAsync(otherBucket.Bucket, otherBucket.Key));
        Assert.False(File.Exists(Path.Combine(Work, "x.bin")));
    }

    [SkippableFact]
    public async Task Stat_reports_size_sha256_etag_and_a_recent_time()
    {
        var store = await StoreAsync();
        var artifact = await store.PutFileAsync(Bucket, "s/one.bin", WriteFile("one.bin", 777));
        var info = await store.StatAsync(Bucket, "s/one.bin");
        Assert.NotNull(info);
        Assert.Equal((Bucket, "s/one.bin", 777L, artifact.Sha256), (info.Bucket, info.Key, info.Bytes, info.Sha256));
        Assert.False(string.IsNullOrEmpty(info.ETag));
        Assert.InRange(info.LastModified, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(5));
    }

    [SkippableFact]
    public async Task List_is_recursive_filtered_by_prefix_and_in_ordinal_order()
    {
        var store = await StoreAsync();
        var source = WriteFile("x.bin", 10);
        string[] keys = ["b/2.txt", "a/sub/deep/3.txt", "a/B.txt", "ab.txt", "a/1.txt", "a/sub/2.txt", "a b/c d.txt"];
        foreach (var key in keys)
            await store.PutFileAsync(Bucket, key, source);

        async Task<string[]> List(string prefix) =>
            await store.ListAsync(Bucket, prefix).Select(i => i.Key).ToArrayAsync();
        Assert.Equal(keys.Order(StringComparer.Ordinal), await List(""));
        Assert.Equal(["a/1.txt", "a/B.txt", "a/sub/2.txt", "a/sub/deep/3.txt"], await List("a/"));
        Assert.Equal(["a b/c d.txt", "a/1.txt", "a/B.txt", "a/sub/2.txt", "a/sub/deep/3.txt", "ab.txt"],
            await List("a"));
        Assert.Equal(["a/sub/2.txt", "a/sub/deep/3.txt"], await List("a/su"));
        Assert.Empty(await List("zzz/"));
        var item = await store.ListAsync(Bucket, "b/").SingleAsync();
        Assert.Equal((10L, Bucket), (item.Bytes, item.Bucket));
        Assert.True(item.Sha256 is null || item.Sha256 == ArtifactKeys.Sha256OfFile(source));
    }

    [SkippableFact]
    public async Task Delete_removes_the_object_and_deleting_again_is_harmless()
    {
        var store = await StoreAsync();
        await store.PutFileAsync(Bucket, "d/gone.bin", WriteFile("gone.bin", 10));
        await store.DeleteAsync(Bucket, "d/gone.bin");
        Assert.Null(await store.StatAsync(Bucket, "d/gone.bin"));
        Assert.Empty(await store.ListAsync(Bucket).ToArrayAsync());
        await store.DeleteAsync(Bucket, "d/gone.bin");
    }

    [SkippableFact]
    public async Task Overwriting_a_key_serves_the_new_bytes_and_fails_the_old_reference()
    {
        var store = await StoreAsync();
        var first = await store.PutFileAsync(Bucket, "o/file.bin", WriteFile("v1.bin", 300, seed: 1));
        var second = await store.PutFileAsync(Bucket, "o/file.bin", WriteFile("v2.bin", 300, seed: 2));
        Assert.NotEqual(first.Sha256, second.Sha256);
        Assert.Equal(second.Sha256, (await store.StatAsync(Bucket, "o/file.bin"))!.Sha256);
        await store.GetFileAsync(second, Path.Combine(Work, "new.bin"));
        await Assert.ThrowsAsync<ArtifactIntegrityException>(() => store.GetFileAsync(first,
            Path.Combine(Work, "old.bin")));
    }

    [SkippableTheory]
    [InlineData("")]
    [InlineData("/abs/key")]
    [InlineData("a/../b")]
    [InlineData("..")]
    [InlineData("./a")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a\\b")]
    [InlineData("tab\there")]
    public async Task Invalid_keys_are_rejected_before_any_request(string key)
    {
        var store = await StoreAsync();
        var source = WriteFile("k.bin", 1);
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutFileAsync(Bucket, key, source));
        await Assert.ThrowsAsync<ArgumentException>(() => store.StatAsync(Bucket, key));
        await Assert.ThrowsAsync<ArgumentException>(() => store.GetFileAsync(new ArtifactRef(Bucket, key,
            ArtifactKeys.Sha256OfText(""), 0), Path.Combine(Work, "k.out")));
        await Assert.ThrowsAsync<ArgumentException>(() => store.DeleteAsync(Bucket, key));
    }

    [SkippableTheory]
    [InlineData("Upper")]
    [InlineData("ab")]
    [InlineData(".meta")]
    [InlineData("a_b_c")]
    [InlineData("../up")]
    public async Task Invalid_bucket_names_are_rejected(string bucket)
    {
        var store = await StoreAsync();
        await Assert.ThrowsAsync<ArgumentException>(() => store.EnsureBucketsAsync([bucket]));
        await Assert.ThrowsAsync<ArgumentException>(() => store.PutFileAsync(bucket, "k", WriteFile("b.bin", 1)));
    }

    [SkippableFact]
    public async Task Writing_to_a_bucket_that_was_never_ensured_says_so()
    {
        var store = await StoreAsync();
        var bucket = "t-never-" + Guid.NewGuid().ToString("N")[..8];
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => store.PutFileAsync(bucket, "k.bin",
            WriteFile("n.bin", 1)));
        Assert.Contains(bucket, e.Message);
        Assert.Contains("EnsureBucketsAsync", e.Message);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await store.ListAsync(bucket).ToArrayAsync());
    }
}
