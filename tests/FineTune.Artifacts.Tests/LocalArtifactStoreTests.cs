// The store contract over LocalArtifactStore, plus what only a folder can get wrong: side files, the temporary area,
// files edited behind the store's back, and keys that would need a name to be both a file and a folder.
using System.Text.Json;
using Xunit.Abstractions;

namespace FineTune.Artifacts.Tests;

[Trait("Kind", "unit")]
public sealed class LocalArtifactStoreTests(ITestOutputHelper output) : ArtifactStoreContract(output)
{
    string StoreRoot => Path.Combine(Work, "store");

    protected override IArtifactStore CreateStore() => new LocalArtifactStore(StoreRoot);

    protected override Task TamperAsync(string bucket, string key, byte[] bytes) =>
        File.WriteAllBytesAsync(Path.Combine(StoreRoot, bucket, key), bytes);

    [Fact]
    public async Task The_hash_lives_in_a_side_file_that_listing_never_shows()
    {
        var store = await StoreAsync();
        var artifact = await store.PutFileAsync(Bucket, "m/a.bin", WriteFile("a.bin", 64));

        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(StoreRoot, ".meta", Bucket, "m",
            "a.bin.json")));
        Assert.Equal(artifact.Sha256, meta.RootElement.GetProperty("sha256").GetString());
        Assert.Equal(64, meta.RootElement.GetProperty("bytes").GetInt64());
        Assert.Equal(artifact.Sha256, meta.RootElement.GetProperty("etag").GetString());
        Assert.True(meta.RootElement.TryGetProperty("created", out _));
        Assert.Empty(Directory.GetFiles(Path.Combine(StoreRoot, ".tmp")));   // staged writes were renamed away
        Assert.Equal(["m/a.bin"], await store.ListAsync(Bucket).Select(i => i.Key).ToArrayAsync());
    }

    [Fact]
    public async Task Stat_trusts_a_current_side_file_and_rehashes_a_data_file_changed_behind_its_back()
    {
        var store = await StoreAsync();
        await store.PutFileAsync(Bucket, "m/b.bin", WriteFile("b.bin", 64));
        var metaPath = Path.Combine(StoreRoot, ".meta", Bucket, "m", "b.bin.json");
        var fake = new string('f', 64);
        File.WriteAllText(metaPath,
            File.ReadAllText(metaPath).Replace(ArtifactKeys.Sha256OfFile(Path.Combine(Work, "b.bin")), fake));
        // no rehash while the side file is current
        Assert.Equal(fake, (await store.StatAsync(Bucket, "m/b.bin"))!.Sha256);

        var data = Path.Combine(StoreRoot, Bucket, "m", "b.bin");
        File.WriteAllBytes(data, new byte[64]);
        File.SetLastWriteTimeUtc(data, DateTime.UtcNow.AddMinutes(1));
        var info = await store.StatAsync(Bucket, "m/b.bin");
        Assert.Equal(ArtifactKeys.Sha256OfFile(data), info!.Sha256);
        File.Delete(metaPath);
        Assert.Equal(info.Sha256, (await store.StatAsync(Bucket, "m/b.bin"))!.Sha256);
        Assert.True(File.Exists(metaPath));   // rewritten
    }

    [Fact]
    public async Task A_key_cannot_be_both_an_object_and_a_folder_of_objects()
    {
        var store = await StoreAsync();
        var source = WriteFile("c.bin", 8);
        await store.PutFileAsync(Bucket, "x/y", source);
        var e = await Assert.ThrowsAsync<IOException>(() => store.PutFileAsync(Bucket, "x/y/z", source));
        Assert.Contains($"{Bucket}/x/y", e.Message);
        await Assert.ThrowsAsync<IOException>(() => store.PutFileAsync(Bucket, "x", source));
    }

    [Fact]
    public async Task Deleting_prunes_empty_folders()
    {
        var store = await StoreAsync();
        await store.PutFileAsync(Bucket, "p/q/r.bin", WriteFile("r.bin", 8));
        await store.DeleteAsync(Bucket, "p/q/r.bin");
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(StoreRoot, Bucket)));
        Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(StoreRoot, ".meta", Bucket)));
    }
}
