// Bundles over every store: nested directories round-trip, a repeated put or get transfers nothing new, and a manifest
// whose paths would escape the target directory is refused before anything is written.
using System.Text;
using FineTune.Contracts;

namespace FineTune.Artifacts.Tests;

public abstract partial class ArtifactStoreContract
{
    string MakeDirectory(string name)
    {
        WriteFile($"{name}/config.json", 300, seed: 1);
        WriteFile($"{name}/manifest.json", 200, seed: 2);   // a directory's own manifest (tokenized shards have one)
        WriteFile($"{name}/train/shard-00000.bin", 70_000, seed: 3);
        WriteFile($"{name}/train/deeper/shard-00001.bin", 5000, seed: 4);
        WriteFile($"{name}/.complete", 1, seed: 5);          // local bookkeeping: not bundled
        return Path.Combine(Work, name);
    }

    [SkippableFact]
    public async Task A_nested_directory_round_trips_as_a_bundle()
    {
        var store = await StoreAsync();
        var source = MakeDirectory("model");

        var manifest = await ArtifactBundle.PutDirectoryAsync(store, Bucket, "models/run1", source);
        Assert.Equal((Bucket, "models/run1/manifest.json"), (manifest.Bucket, manifest.Key));
        var read = await ArtifactBundle.ReadManifestAsync(store, manifest);
        Assert.Equal(["config.json", "manifest.json", "train/deeper/shard-00001.bin", "train/shard-00000.bin"],
            read.Files.Select(f => f.Path));
        Assert.All(read.Files, f => Assert.Equal(ArtifactKeys.Sha256OfFile(Path.Combine(source, f.Path)), f.Sha256));

        var target = Path.Combine(Work, "copy");
        await ArtifactBundle.GetDirectoryAsync(store, manifest, target);
        var copied = Directory.GetFiles(target, "*",
            SearchOption.AllDirectories).Select(f =>
            Path.GetRelativePath(target, f).Replace('\\', '/')).Order(StringComparer.Ordinal);
        Assert.Equal(read.Files.Select(f => f.Path), copied);
        Assert.All(read.Files,
            f => Assert.Equal(File.ReadAllBytes(Path.Combine(source, f.Path)),
            File.ReadAllBytes(Path.Combine(target, f.Path))));
    }

    [SkippableFact]
    public async Task Putting_the_same_directory_again_uploads_nothing_and_a_changed_file_only_itself()
    {
        var counting = new CountingStore(await StoreAsync());
        var source = MakeDirectory("data");

        var first = await ArtifactBundle.PutDirectoryAsync(counting, Bucket, "ds/run", source);
        Assert.Equal(5, counting.Puts);   // four files and the manifest
        counting.Reset();
        var again = await ArtifactBundle.PutDirectoryAsync(counting, Bucket, "ds/run", source);
        Assert.Equal((0, first), (counting.Puts, again));

        WriteFile("data/config.json", 300, seed: 99);
        counting.Reset();
        var changed = await ArtifactBundle.PutDirectoryAsync(counting, Bucket, "ds/run", source);
        Assert.Equal(2, counting.Puts);   // config.json and the new manifest
        Assert.NotEqual(first.Sha256, changed.Sha256);
    }

    [SkippableFact]
    public async Task Getting_a_bundle_again_downloads_only_what_is_missing_or_wrong()
    {
        var counting = new CountingStore(await StoreAsync());
        var manifest = await ArtifactBundle.PutDirectoryAsync(counting, Bucket, "b/run", MakeDirectory("src"));
        var target = Path.Combine(Work, "dst");
        await ArtifactBundle.GetDirectoryAsync(counting, manifest, target);
        Assert.Equal(5, counting.Gets);

        counting.Reset();
        await ArtifactBundle.GetDirectoryAsync(counting, manifest, target);
        Assert.Equal(1, counting.Gets);   // the manifest only

        File.WriteAllText(Path.Combine(target, "train", "shard-00000.bin"), "damaged");
        counting.Reset();
        await ArtifactBundle.GetDirectoryAsync(counting, manifest, target);
        Assert.Equal(2, counting.Gets);
        Assert.Equal(File.ReadAllBytes(Path.Combine(Work, "src", "train", "shard-00000.bin")),
            File.ReadAllBytes(Path.Combine(target, "train", "shard-00000.bin")));
    }

    [SkippableFact]
    public async Task A_tampered_bundle_file_fails_the_integrity_check()
    {
        var store = await StoreAsync();
        var manifest = await ArtifactBundle.PutDirectoryAsync(store, Bucket, "t/run", MakeDirectory("t"));
        await TamperAsync(Bucket, "t/run/files/config.json", new byte[300]);
        var e = await Assert.ThrowsAsync<ArtifactIntegrityException>(() => ArtifactBundle.GetDirectoryAsync(store,
            manifest, Path.Combine(Work, "t-copy")));
        Assert.Contains("t/run/files/config.json", e.Message);
    }

    [SkippableTheory]
    [InlineData("../escape.txt")]
    [InlineData("a/../../escape.txt")]
    [InlineData("/tmp/escape.txt")]
    [InlineData("..\\escape.txt")]
    [InlineData("")]
    public async Task A_manifest_path_that_escapes_the_directory_is_rejected(string path)
    {
        var store = await StoreAsync();
        var json =
            $$"""{ "files": [ { "path": "ok.txt", "sha256": "{{ArtifactKeys.Sha256OfText("ok")}}", "bytes": 2 }, { "path": "{{path.Replace("\\", "\\\\")}}", "sha256": "{{ArtifactKeys.Sha256OfText("evil")}}", "bytes": 4 } ] }""";
        var manifest = await store.PutStreamAsync(Bucket, "evil/run/manifest.json",
            new MemoryStream(Encoding.UTF8.GetBytes(json)));
        await store.PutStreamAsync(Bucket, "evil/run/files/ok.txt", new MemoryStream("ok"u8.ToArray()));

        var target = Path.Combine(Work, "inside", "target");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => ArtifactBundle.GetDirectoryAsync(store, manifest,
            target));
        Assert.Contains("evil/run/manifest.json", e.Message);
        Assert.False(Directory.Exists(target));   // refused before anything was written
        Assert.False(File.Exists(Path.Combine(Work, "inside", "escape.txt")));
    }

    [SkippableFact]
    public async Task A_reference_that_is_not_a_manifest_or_not_json_is_rejected()
    {
        var store = await StoreAsync();
        var notJson = await store.PutStreamAsync(Bucket, "x/run/manifest.json",
            new MemoryStream("not json"u8.ToArray()));
        await Assert.ThrowsAsync<InvalidDataException>(() => ArtifactBundle.ReadManifestAsync(store, notJson));
        await Assert.ThrowsAsync<ArgumentException>(() => ArtifactBundle.ReadManifestAsync(store,
            notJson with { Key = "x/run/other.json" }));
        var missing = new ArtifactRef(Bucket, "nope/manifest.json", ArtifactKeys.Sha256OfText(""), 0);
        await Assert.ThrowsAsync<ArtifactNotFoundException>(() => ArtifactBundle.GetDirectoryAsync(store, missing,
            Path.Combine(Work, "nope")));
    }
}
