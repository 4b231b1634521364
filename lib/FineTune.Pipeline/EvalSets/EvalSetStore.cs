// Evaluation sets as artifacts: benchmark sets (MMLU, GSM8K), a team's own held-out test sets and judge rubrics, kept
// in the evaluations bucket under sets/{name}/v{version}/ as a bundle (files + manifest) and a set.json that commits
// the version. A version never changes: adding different files makes the next version, adding the same files again
// finds the version that holds them. Each set is checked when it is added, so a run never starts on a broken set.
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals;

namespace FineTune.Pipeline.EvalSets;

public enum EvalSetKind { Mmlu, Gsm8k, Task, Rubric }

/// <summary>One version of a set: its bundle's manifest (what a stage downloads) and that manifest's SHA-256 (what
/// results and the baseline cache record).</summary>
public sealed record EvalSetInfo(string Name, EvalSetKind Kind, int Version, ArtifactRef Manifest, int Files,
    long Bytes, DateTimeOffset Added)
{
    public string Sha256 => Manifest.Sha256;
}

/// <summary>A set name or version the store does not hold: the run fails with this message (not retried).</summary>
public sealed class EvalSetNotFoundException(string message) : Exception(message);

public sealed class EvalSetStore(IArtifactStore store)
{
    public const string Prefix = "sets";
    const string InfoName = "set.json";
    /// <summary>Limits on what one set may hold: the whole MMLU release is about 8 MB in 171 files.</summary>
    public const long MaxBytes = 1L << 30;
    public const int MaxFiles = 10_000;
    public const int MaxRubricBytes = 64 * 1024;

    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = true,
    };

    /// <summary>The layout a kind is stored in, from a folder or a single file:
    /// mmlu: a folder with dev/ and test/ (*_dev.csv, *_test.csv as the original release);
    /// gsm8k: a folder with test.jsonl (and train.jsonl for few-shot), or one test file;
    /// task: a prepared test split (test.jsonl) or one such file; rubric: one text file (rubric.md).</summary>
    public async Task<(EvalSetInfo Set, bool Added)> AddAsync(string name, string path, EvalSetKind kind,
        CancellationToken ct = default)
    {
        ResourceNames.Validate(name, "evaluation set");
        var staging = Directory.CreateTempSubdirectory("finetune-evalset-").FullName;
        try
        {
            Stage(path, kind, staging);
            Check(kind, staging, path);
            var manifest = await ArtifactBundle.DescribeAsync(staging, ct);
            if (manifest.Files.Count > MaxFiles || manifest.Files.Sum(f => f.Bytes) > MaxBytes)
                throw new InvalidDatasetException($"{path}: an evaluation set holds at most {MaxFiles} files and " +
                    $"{MaxBytes >> 20} MiB; this one has {manifest.Files.Count} files, " +
                    $"{manifest.Files.Sum(f => f.Bytes)} bytes.");
            var versions = await ListAsync(name, ct);
            var sha = ArtifactBundle.ManifestSha256(manifest);
            if (versions.FirstOrDefault(v => v.Sha256 == sha && v.Kind == kind) is { } same)
                return (same, false);
            if (versions.Count > 0 && versions[^1].Kind != kind)
                throw new ArgumentException($"evaluation set '{name}' is a {Name(versions[^1].Kind)} set; a " +
                    $"{Name(kind)} set needs a name of its own.");
            int version = versions.Count == 0 ? 1 : versions[^1].Version + 1;
            while (await store.StatAsync(Buckets.Evaluations, InfoKey(name, version), ct) is not null)
                version++;   // another add took this number meanwhile
            await store.EnsureBucketsAsync([Buckets.Evaluations], ct);
            var prefix = $"{Prefix}/{name}/v{version}";
            var manifestRef = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Evaluations, prefix, staging,
                manifest, ct);
            var info = new EvalSetInfo(name, kind, version, manifestRef, manifest.Files.Count,
                manifest.Files.Sum(f => f.Bytes), DateTimeOffset.UtcNow);
            // set.json last: until it exists the version is not listed, so a half-finished upload is never used.
            await using var content = new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(info, Json));
            await store.PutStreamAsync(Buckets.Evaluations, InfoKey(name, version), content, ct);
            return (info, true);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>Every version of every set (or of <paramref name="name"/>), by name then version.</summary>
    public async Task<IReadOnlyList<EvalSetInfo>> ListAsync(string? name = null, CancellationToken ct = default)
    {
        var sets = new List<EvalSetInfo>();
        var prefix = name is null ? $"{Prefix}/" : $"{Prefix}/{ResourceNames.Validate(name, "evaluation set")}/";
        try
        {
            await foreach (var o in store.ListAsync(Buckets.Evaluations, prefix, ct))
            {
                if (!o.Key.EndsWith("/" + InfoName, StringComparison.Ordinal) || o.Key.Count(c => c == '/') != 3)
                    continue;
                // An S3 listing carries no user metadata: the hash comes from the object's own stat.
                if ((o.Sha256 is null ? await store.StatAsync(Buckets.Evaluations, o.Key, ct) : o) is not
                    { Sha256: { } sha256 } info)
                    continue;
                var path = Path.GetTempFileName();
                try
                {
                    await store.GetFileAsync(new ArtifactRef(Buckets.Evaluations, o.Key, sha256, info.Bytes), path,
                        ct);
                    if (JsonSerializer.Deserialize<EvalSetInfo>(await File.ReadAllTextAsync(path, ct), Json) is { } s)
                        sets.Add(s);
                }
                finally
                {
                    File.Delete(path);
                }
            }
        }
        catch (ArtifactNotFoundException)
        {
            // no evaluations bucket yet: no sets
        }
        return [.. sets.OrderBy(s => s.Name, StringComparer.Ordinal).ThenBy(s => s.Version)];
    }

    /// <summary>The set a pipeline config names: that version, or the newest when none is given.</summary>
    public async Task<EvalSetInfo> ResolveAsync(string name, int? version, EvalSetKind kind, string key,
        CancellationToken ct = default)
    {
        var versions = await ListAsync(name, ct);
        var found = version is { } v ? versions.FirstOrDefault(s => s.Version == v) : versions.LastOrDefault();
        if (found is null)
            throw new EvalSetNotFoundException($"'{key}': no evaluation set '{name}'" +
                (version is null ? "" : $" version {version}") +
                (versions.Count == 0 ? "; add it with `finetune evalsets add " + name + " PATH --kind " +
                    Name(kind) + "`."
                    : $"; it has versions {string.Join(", ", versions.Select(s => s.Version))}."));
        if (found.Kind != kind)
            throw new EvalSetNotFoundException($"'{key}': evaluation set '{name}' is a {Name(found.Kind)} set, not " +
                $"{Name(kind)}.");
        return found;
    }

    public static string Name(EvalSetKind kind) => kind.ToString().ToLowerInvariant();

    static string InfoKey(string name, int version) => $"{Prefix}/{name}/v{version}/{InfoName}";

    /// <summary>Copies what the kind uses into the staging folder, in the layout the suites read.</summary>
    static void Stage(string path, EvalSetKind kind, string staging)
    {
        bool isDirectory = Directory.Exists(path);
        if (!isDirectory && !File.Exists(path))
            throw new FileNotFoundException($"evaluation set source not found: '{path}'.", path);
        void Copy(string from, string to)
        {
            var target = Path.Combine(staging, to);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(from, target);
        }
        switch (kind)
        {
            case EvalSetKind.Mmlu:
                if (!isDirectory)
                    throw new InvalidDatasetException($"{path}: an mmlu set is a folder with dev/ and test/ " +
                        "(the release's *_dev.csv and *_test.csv).");
                foreach (var split in new[] { "dev", "test" })
                {
                    var dir = Path.Combine(path, split);
                    if (!Directory.Exists(dir))
                        throw new InvalidDatasetException($"{path}: no {split}/ folder (an mmlu set needs dev/ and " +
                            "test/).");
                    foreach (var file in Directory.EnumerateFiles(dir, $"*_{split}.csv"))
                        Copy(file, Path.Combine(split, Path.GetFileName(file)));
                }
                break;
            case EvalSetKind.Gsm8k or EvalSetKind.Task:
                if (!isDirectory)
                    Copy(path, "test.jsonl");
                else
                    foreach (var file in kind == EvalSetKind.Gsm8k ? new[] { "test.jsonl", "train.jsonl" }
                        : ["test.jsonl"])
                        if (File.Exists(Path.Combine(path, file)))
                            Copy(Path.Combine(path, file), file);
                        else if (file == "test.jsonl")
                            throw new InvalidDatasetException($"{path}: no test.jsonl.");
                break;
            case EvalSetKind.Rubric:
                if (isDirectory)
                    throw new InvalidDatasetException($"{path}: a rubric is one text file.");
                Copy(path, "rubric.md");
                break;
        }
    }

    /// <summary>Reads the set as the suites will, so a broken set is refused when it is added.</summary>
    static void Check(EvalSetKind kind, string dir, string source)
    {
        try
        {
            switch (kind)
            {
                case EvalSetKind.Mmlu:
                    _ = Mmlu.Load(dir, "dev");
                    var test = Mmlu.Load(dir, "test");
                    if (test.Count == 0)
                        throw new InvalidDatasetException($"{source}: test/ holds no *_test.csv.");
                    break;
                case EvalSetKind.Gsm8k:
                    if (Gsm8k.Load(Path.Combine(dir, "test.jsonl")).Count == 0)
                        throw new InvalidDatasetException($"{source}: no problems in test.jsonl.");
                    if (File.Exists(Path.Combine(dir, "train.jsonl")))
                        _ = Gsm8k.Load(Path.Combine(dir, "train.jsonl"));
                    break;
                case EvalSetKind.Task:
                    if (!TaskEval.Examples(NormalizedJsonl.Read(Path.Combine(dir, "test.jsonl"))).Any())
                        throw new InvalidDatasetException($"{source}: no chat example that ends with an assistant " +
                            "turn (the reference answer); prepare it with `finetune data prepare` first.");
                    break;
                case EvalSetKind.Rubric:
                    var rubric = Path.Combine(dir, "rubric.md");
                    if (new FileInfo(rubric).Length > MaxRubricBytes)
                        throw new InvalidDatasetException($"{source}: a rubric has at most {MaxRubricBytes} bytes.");
                    if (string.IsNullOrWhiteSpace(File.ReadAllText(rubric)))
                        throw new InvalidDatasetException($"{source}: the rubric is empty.");
                    break;
            }
        }
        catch (Exception e) when (e is FormatException or JsonException or DirectoryNotFoundException)
        {
            throw new InvalidDatasetException($"{source}: not a valid {Name(kind)} set: {e.Message}");
        }
    }
}
