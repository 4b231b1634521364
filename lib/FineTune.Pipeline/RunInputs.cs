// Resolves a run's inputs on this host: the pipeline settings and the base model (downloaded once per content hash
// and verified), and the defaults a run gets when its drop named none (published to the store at first use).
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Models;
using FineTune.Training.Pretraining;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline;

public sealed class RunInputs(IArtifactStore store, IOptions<PipelineOptions> options, ILogger<RunInputs> log)
{
    readonly PipelineOptions _options = options.Value;
    readonly SemaphoreSlim _gate = new(1, 1);

    public string WorkDirectory => _options.WorkDirectory;

    /// <summary>WorkDirectory/{run}/{stage}, emptied first: a retried attempt starts from the same clean state.</summary>
    public string StageDirectory(Guid runId, string stage, bool clean = true)
    {
        var dir = Path.Combine(RunDirectory(runId), stage);
        if (clean && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Deletes a stage's scratch directory once its outputs are in the store (a retry recreates it).</summary>
    public void FreeStageDirectory(Guid runId, string stage) => Delete(runId, Path.Combine(RunDirectory(runId), stage));

    /// <summary>Deletes all of a run's scratch space on this host (the run ended).</summary>
    public void FreeRunDirectory(Guid runId) => Delete(runId, RunDirectory(runId));

    string RunDirectory(Guid runId) => Path.Combine(_options.WorkDirectory, "runs", runId.ToString("N"));

    void Delete(Guid runId, string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException e) { log.LogWarning(e, "Run {RunId}: could not delete {Dir}", runId, dir); }
    }

    public async Task<PipelineSettings> SettingsAsync(ArtifactRef settings, CancellationToken ct)
    {
        var path = Path.Combine(_options.WorkDirectory, "settings", settings.Sha256 + ".json");
        if (!File.Exists(path)) await store.GetFileAsync(settings, path, ct);
        return PipelineSettings.Parse(await File.ReadAllTextAsync(path, ct), $"{settings.Bucket}/{settings.Key}");
    }

    /// <summary>A model bundle's config.json alone (its weights stay in the store): what ingestion checks settings against.</summary>
    public async Task<LlamaConfig> ModelConfigAsync(ArtifactRef model, CancellationToken ct)
    {
        var path = Path.Combine(_options.WorkDirectory, "model-configs", model.Sha256[..16] + ".json");
        try { await ArtifactBundle.GetFileAsync(store, model, "config.json", path, ct); }
        catch (FileNotFoundException e) { throw new ModelFormatException($"base model: {e.Message} (a Hugging Face model directory needs one)."); }
        return LlamaConfig.Load(path);
    }

    /// <summary>The bundle's directory on this host (downloaded and verified on first use).</summary>
    public async Task<string> BundleAsync(ArtifactRef manifest, CancellationToken ct)
    {
        var dir = Path.Combine(_options.WorkDirectory, "bundles", manifest.Sha256[..16]);
        if (File.Exists(Path.Combine(dir, ".complete"))) return dir;
        await _gate.WaitAsync(ct);
        try
        {
            if (File.Exists(Path.Combine(dir, ".complete"))) return dir;
            await ArtifactBundle.GetDirectoryAsync(store, manifest, dir, ct);
            await File.WriteAllTextAsync(Path.Combine(dir, ".complete"), manifest.Sha256, ct);
            return dir;
        }
        finally { _gate.Release(); }
    }

    /// <summary>The base model and settings a run uses when its message names none.</summary>
    public async Task<(ArtifactRef BaseModel, ArtifactRef Settings)> DefaultsAsync(CancellationToken ct)
    {
        if (_options.DefaultBaseModel is { } b && _options.DefaultSettings is { } s) return (b, s);
        await _gate.WaitAsync(ct);
        try
        {
            _options.DefaultSettings ??= await PublishSettingsAsync(
                _options.SettingsFile is { } file ? PipelineSettings.Load(file) : new PipelineSettings(), ct);
            if (_options.DefaultBaseModel is null)
            {
                var dir = _options.BaseModelDirectory;
                if (dir is null)
                {
                    var cache = TinyBaseModel.DefaultCacheRoot();
                    log.LogInformation("No base model configured: pre-training the tiny base model (cached under {Dir})", cache);
                    dir = await TinyBaseModel.EnsureAsync(cache, new TinyBaseModelOptions(), null, ct);
                }
                _options.DefaultBaseModel = await PublishModelAsync(dir, ct);
            }
            return (_options.DefaultBaseModel, _options.DefaultSettings);
        }
        finally { _gate.Release(); }
    }

    /// <summary>Uploads a model directory as a content-addressed bundle under models/base/.</summary>
    public async Task<ArtifactRef> PublishModelAsync(string directory, CancellationToken ct)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"base model directory not found: '{directory}'.");
        // Content-addressed: the prefix comes from the files' hashes, computed once and handed to the upload.
        var manifest = await ArtifactBundle.DescribeAsync(directory, ct);
        var id = ArtifactKeys.Combine(manifest.Files.Select(f => $"{f.Path}:{f.Sha256}").ToArray())[..16];
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        return await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, $"base/{name}-{id}", directory, manifest, ct);
    }

    public async Task<ArtifactRef> PublishSettingsAsync(PipelineSettings settings, CancellationToken ct)
    {
        var json = settings.ToJson();
        var path = Path.Combine(_options.WorkDirectory, "settings", $"upload-{Guid.NewGuid():N}.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, json, ct);
        try { return await store.PutFileAsync(Buckets.Models, $"settings/{ArtifactKeys.Sha256OfText(json)[..16]}.json", path, ct); }
        finally { File.Delete(path); }
    }
}
