// A directory as one artifact: its files under {prefix}/files/{path} and {prefix}/manifest.json listing each with its
// hash. Files go under files/ so that a directory with a manifest.json of its own (tokenized shards) keeps it.
// Both directions skip what is already in place, so a retried stage neither re-uploads nor re-downloads.
using System.Security.Cryptography;
using System.Text.Json;
using FineTune.Contracts;

namespace FineTune.Artifacts;

public static class ArtifactBundle
{
    public const string ManifestName = "manifest.json";
    public const string FilesFolder = "files";

    /// <summary>Uploads every file under <paramref name="directory"/> (recursively; names starting with '.' are local
    /// bookkeeping and skipped), then the manifest, and returns the manifest's reference. A file whose object already
    /// holds the same bytes is not uploaded again, nor is an unchanged manifest.</summary>
    public static Task<ArtifactRef> PutDirectoryAsync(IArtifactStore store, string bucket, string prefix,
        string directory, CancellationToken ct = default) =>
        PutDirectoryAsync(store, bucket, prefix, directory, known: null, ct);

    /// <summary>As above, with the hashes <see cref="DescribeAsync"/> already computed for <paramref
    /// name="directory"/>, so an unchanged file is recognised without reading it again.</summary>
    public static async Task<ArtifactRef> PutDirectoryAsync(IArtifactStore store, string bucket, string prefix,
        string directory,
        BundleManifest? known, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArtifactKeys.ValidateBucket(bucket);
        ArtifactKeys.ValidateKey(prefix, nameof(prefix));
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"cannot bundle '{directory}' to {bucket}/{prefix}: directory not " +
                $"found (did the stage write it?)");
        var root = Path.GetFullPath(directory);
        var hashes = known?.Files.ToDictionary(f => f.Path, f => f.Sha256, StringComparer.Ordinal);
        var files = new List<BundleFile>();
        foreach (var relative in RelativeFiles(root))
            files.Add(await PutIfChangedAsync(store, bucket, FileKey(prefix, relative), Path.Combine(root, relative),
                relative,
                hashes?.GetValueOrDefault(relative), ct));

        var json = JsonSerializer.SerializeToUtf8Bytes(new BundleManifest(files), ArtifactJson.Default.BundleManifest);
        var manifestKey = $"{prefix}/{ManifestName}";
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(json));
        if (await store.StatAsync(bucket, manifestKey,
            ct) is { } existing && existing.Sha256 == sha256 && existing.Bytes == json.Length)
            return new ArtifactRef(bucket, manifestKey, sha256, json.Length);
        using var content = new MemoryStream(json, writable: false);
        return await store.PutStreamAsync(bucket, manifestKey, content, ct);
    }

    /// <summary>The SHA-256 the manifest object of <paramref name="manifest"/> has once uploaded: a bundle's identity,
    /// known before the upload.</summary>
    public static string ManifestSha256(BundleManifest manifest) => Convert.ToHexStringLower(SHA256.HashData(
        JsonSerializer.SerializeToUtf8Bytes(manifest, ArtifactJson.Default.BundleManifest)));

    /// <summary>The manifest <see cref="PutDirectoryAsync(IArtifactStore, string, string, string, CancellationToken)"/>
    /// would write for <paramref name="directory"/> (the same files, each hashed once), without touching a store: for a
    /// content-addressed prefix that must be known before the upload.</summary>
    public static async Task<BundleManifest> DescribeAsync(string directory, CancellationToken ct = default)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"cannot describe '{directory}': directory not found.");
        var root = Path.GetFullPath(directory);
        var files = new List<BundleFile>();
        foreach (var relative in RelativeFiles(root))
        {
            var path = Path.Combine(root, relative);
            files.Add(new BundleFile(relative, await ArtifactKeys.Sha256OfFileAsync(path, ct),
                new FileInfo(path).Length));
        }
        return new BundleManifest(files);
    }

    /// <summary>Downloads the bundle into <paramref name="directory"/> (created), every file verified; files already
    /// there with the right size and hash are kept. Files in the directory that the manifest does not list are left
    /// alone.</summary>
    public static async Task GetDirectoryAsync(IArtifactStore store, ArtifactRef manifest, string directory,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var bundle = await ReadManifestAsync(store, manifest, ct);
        var root = Directory.CreateDirectory(Path.GetFullPath(directory)).FullName;
        var prefix = PrefixOf(manifest);
        foreach (var file in bundle.Files)
        {
            var local = Path.GetFullPath(Path.Combine(root, file.Path));
            if (!local.StartsWith(Path.TrimEndingDirectorySeparator(root) + Path.DirectorySeparatorChar,
                StringComparison.Ordinal))
                throw Invalid(manifest, $"lists '{file.Path}', which resolves outside '{root}'");
            if (await IsPresentAsync(local, file, ct))
                continue;
            await store.GetFileAsync(new ArtifactRef(manifest.Bucket, FileKey(prefix, file.Path), file.Sha256,
                file.Bytes), local, ct);
        }
    }

    /// <summary>Downloads one file of a bundle (verified) to <paramref name="destination"/>, e.g. a model's config.json
    /// without its weights. Throws <see cref="FileNotFoundException"/> when the bundle does not list it.</summary>
    public static async Task GetFileAsync(IArtifactStore store, ArtifactRef manifest, string relativePath,
        string destination,
        CancellationToken ct = default)
    {
        var bundle = await ReadManifestAsync(store, manifest, ct);
        var file = bundle.Files.FirstOrDefault(f => f.Path == relativePath)
            ?? throw new FileNotFoundException($"{manifest.Bucket}/{manifest.Key} lists no '{relativePath}'.",
                relativePath);
        if (await IsPresentAsync(destination, file, ct))
            return;
        await store.GetFileAsync(new ArtifactRef(manifest.Bucket, FileKey(PrefixOf(manifest), file.Path), file.Sha256,
            file.Bytes), destination, ct);
    }

    /// <summary>Downloads (verified) and parses a bundle manifest. Throws <see cref="InvalidDataException"/> when it is
    /// not one, or lists a path that could escape the bundle directory.</summary>
    public static async Task<BundleManifest> ReadManifestAsync(IArtifactStore store, ArtifactRef manifest,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        VerifiedDownload.ThrowIfInvalid(manifest);
        PrefixOf(manifest);
        var temp = Path.Combine(Path.GetTempPath(), $"finetune-manifest-{Guid.NewGuid():N}.json");
        BundleManifest? bundle;
        try
        {
            await store.GetFileAsync(manifest, temp, ct);
            bundle = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(temp, ct),
                ArtifactJson.Default.BundleManifest);
        }
        catch (JsonException e)
        {
            throw Invalid(manifest, $"is not JSON of the expected shape ({e.Message})");
        }
        finally
        {
            File.Delete(temp);
        }
        if (bundle?.Files is null)
            throw Invalid(manifest, "has no \"files\" list");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in bundle.Files)
        {
            if (file?.Path is null)
                throw Invalid(manifest, "has a file without a path");
            if (ArtifactKeys.KeyProblem(file.Path) is { } problem)
                throw Invalid(manifest, $"lists path '{file.Path}', which {problem}");
            if (file.Sha256 is not { Length: 64 } sha || !sha.All(char.IsAsciiHexDigitLower))
                throw Invalid(manifest, $"lists '{file.Path}' with sha256 '{file.Sha256}'");
            if (file.Bytes < 0)
                throw Invalid(manifest, $"lists '{file.Path}' with {file.Bytes} bytes");
            if (!seen.Add(file.Path))
                throw Invalid(manifest, $"lists '{file.Path}' twice");
        }
        return bundle;
    }

    static async Task<BundleFile> PutIfChangedAsync(IArtifactStore store, string bucket, string key, string local,
        string relative,
        string? knownSha256, CancellationToken ct)
    {
        var bytes = new FileInfo(local).Length;
        if (await store.StatAsync(bucket, key, ct) is { Sha256: { } stored } info && info.Bytes == bytes)
        {
            var sha256 = knownSha256 ?? await ArtifactKeys.Sha256OfFileAsync(local, ct);
            if (sha256 == stored)
                return new BundleFile(relative, sha256, bytes);
        }
        var put = await store.PutFileAsync(bucket, key, local, ct);
        return new BundleFile(relative, put.Sha256, put.Bytes);
    }

    static async Task<bool> IsPresentAsync(string local, BundleFile file, CancellationToken ct) =>
        new FileInfo(local) is { Exists: true } info && info.Length == file.Bytes
            && await ArtifactKeys.Sha256OfFileAsync(local, ct) == file.Sha256;

    static IEnumerable<string> RelativeFiles(string root) =>
        Directory.EnumerateFiles(root, "*",
            new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Select(f => Path.GetRelativePath(root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(relative => !relative.Split('/').Any(segment => segment.StartsWith('.')))
            .Order(StringComparer.Ordinal);

    static string FileKey(string prefix, string relative)
    {
        var key = $"{prefix}/{FilesFolder}/{relative}";
        ArtifactKeys.ValidateKey(key, nameof(relative));
        return key;
    }

    static string PrefixOf(ArtifactRef manifest) =>
        manifest.Key.EndsWith("/" + ManifestName, StringComparison.Ordinal)
            ? manifest.Key[..^(ManifestName.Length + 1)]
            : throw new ArgumentException($"{manifest.Bucket}/{manifest.Key} is not a bundle manifest (its key " +
                $"should end in '/{ManifestName}'; pass the ArtifactRef PutDirectoryAsync returned).",
                nameof(manifest));

    static InvalidDataException Invalid(ArtifactRef manifest, string problem) =>
        new($"bundle manifest {manifest.Bucket}/{manifest.Key} {problem} (was it written by " +
            $"ArtifactBundle.PutDirectoryAsync?)");
}
