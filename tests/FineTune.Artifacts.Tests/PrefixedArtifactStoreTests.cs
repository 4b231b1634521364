// The store contract over PrefixedArtifactStore (a local store underneath): callers see logical bucket names, the
// objects live in prefixed buckets, and another prefix over the same store sees none of them.
using Xunit.Abstractions;

namespace FineTune.Artifacts.Tests;

[Trait("Kind", "unit")]
public sealed class PrefixedArtifactStoreTests(ITestOutputHelper output) : ArtifactStoreContract(output)
{
    string StoreRoot => Path.Combine(Work, "store");

    protected override IArtifactStore CreateStore() =>
        new PrefixedArtifactStore(new LocalArtifactStore(StoreRoot), "tenant-");

    protected override Task TamperAsync(string bucket, string key, byte[] bytes) =>
        File.WriteAllBytesAsync(Path.Combine(StoreRoot, "tenant-" + bucket, key), bytes);

    [Fact]
    public async Task Objects_live_in_prefixed_buckets_and_references_keep_the_logical_name()
    {
        var store = await StoreAsync();
        var artifact = await store.PutFileAsync(Bucket, "a/b.bin", WriteFile("b.bin", 32));

        Assert.Equal(Bucket, artifact.Bucket);
        Assert.True(File.Exists(Path.Combine(StoreRoot, "tenant-" + Bucket, "a", "b.bin")));
        Assert.Equal(Bucket, (await store.StatAsync(Bucket, "a/b.bin"))!.Bucket);
        Assert.Equal([Bucket], await store.ListAsync(Bucket).Select(i => i.Bucket).ToArrayAsync());
        var other = new PrefixedArtifactStore(new LocalArtifactStore(StoreRoot), "other-");
        await other.EnsureBucketsAsync([Bucket]);
        Assert.Empty(await other.ListAsync(Bucket).ToArrayAsync());
    }
}
