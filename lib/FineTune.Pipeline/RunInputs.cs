// Resolves a run's inputs on this host: the pipeline settings and the base model (downloaded once per content hash
// and verified), and the defaults a run gets when its drop named none (published to the store at first use).
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Models;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline;

/// <summary>Where a host finds a base model directory when Pipeline:BaseModelDirectory is not set (the Ingestion
/// service registers the tiny base model from FineTune.Demo); none registered: such a drop fails, saying so.</summary>
public delegate Task<string> BaseModelFallback(CancellationToken ct);

public sealed class RunInputs(IArtifactStore store, IOptions<PipelineOptions> options, ILogger<RunInputs> log,
    BaseModelFallback? baseModelFallback = null)
{
    readonly PipelineOptions _options = options.Value;
    readonly SemaphoreSlim _gate = new(1, 1);

    public string WorkDirectory => _options.WorkDirectory;

    /// <summary>WorkDirectory/{run}/{stage}, emptied first: a retried attempt starts from the same clean
    /// state.</summary>
    public string StageDirectory(Guid runId, string stage, bool clean = true)
    {
        var dir = Path.Combine(RunDirectory(runId), stage);
        if (clean && Directory.Exists(dir))
            Directory.Delete(dir, recursive: true);
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
        try
        {
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
        }
        catch (IOException e)
        {
            log.LogWarning(e, "Run {RunId}: could not delete {Dir}", runId, dir);
        }
    }

    public async Task<PipelineSettings> SettingsAsync(ArtifactRef settings, CancellationToken ct)
    {
        var path = Path.Combine(_options.WorkDirectory, "settings", settings.Sha256 + ".json");
        if (!File.Exists(path))
            await store.GetFileAsync(settings, path, ct);
        return PipelineSettings.Parse(await File.ReadAllTextAsync(path, ct), $"{settings.Bucket}/{settings.Key}");
    }

    /// <summary>A model bundle's config.json alone (its weights stay in the store): what ingestion checks settings
    /// against.</summary>
    public async Task<LlamaConfig> ModelConfigAsync(ArtifactRef model, CancellationToken ct)
    {
        var path = Path.Combine(_options.WorkDirectory, "model-configs", model.Sha256[..16] + ".json");
        try
        {
            await ArtifactBundle.GetFileAsync(store, model, "config.json", path, ct);
        }
        catch (FileNotFoundException e)
        {
            throw new ModelFormatException($"base model: {e.Message} (a Hugging Face model directory needs one).");
        }
        return LlamaConfig.Load(path);
    }

    /// <summary>The bundle's directory on this host (downloaded and verified on first use).</summary>
    public async Task<string> BundleAsync(ArtifactRef manifest, CancellationToken ct)
    {
        var dir = Path.Combine(_options.WorkDirectory, "bundles", manifest.Sha256[..16]);
        if (File.Exists(Path.Combine(dir, ".complete")))
            return dir;
        await _gate.WaitAsync(ct);
        try
        {
            if (File.Exists(Path.Combine(dir, ".complete")))
                return dir;
            await ArtifactBundle.GetDirectoryAsync(store, manifest, dir, ct);
            await File.WriteAllTextAsync(Path.Combine(dir, ".complete"), manifest.Sha256, ct);
            return dir;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The settings a run uses when its message names none: Pipeline:SettingsFile, else the
    /// defaults.</summary>
    public async Task<ArtifactRef> DefaultSettingsAsync(CancellationToken ct)
    {
        if (_options.DefaultSettings is { } known)
            return known;
        await _gate.WaitAsync(ct);
        try
        {
            return _options.DefaultSettings ??= await PublishSettingsAsync(
                _options.SettingsFile is { } file ? PipelineSettings.Load(file) : new PipelineSettings(), ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The base model a run uses when its message names none: Pipeline:BaseModelDirectory, else the host's
    /// <see cref="BaseModelFallback"/>, published to the store at first use. `finetune run` names one on every
    /// drop.</summary>
    public async Task<ArtifactRef> DefaultBaseModelAsync(CancellationToken ct)
    {
        if (_options.DefaultBaseModel is { } known)
            return known;
        await _gate.WaitAsync(ct);
        try
        {
            if (_options.DefaultBaseModel is { } published)
                return published;
            var dir = _options.BaseModelDirectory;
            if (dir is null && baseModelFallback is not null)
            {
                log.LogInformation("No Pipeline:BaseModelDirectory: using the host's default base model (built on " +
                    "first use)");
                dir = await baseModelFallback(ct);
            }
            if (dir is null)
                throw new InvalidPipelineSettingsException("no base model: the drop names none and " +
                    "Pipeline:BaseModelDirectory is not set " +
                    "(a Hugging Face model directory; `finetune pretrain` prints the tiny base model's).");
            return _options.DefaultBaseModel = await PublishModelAsync(dir, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Uploads a model directory as a content-addressed bundle under models/base/.</summary>
    public async Task<ArtifactRef> PublishModelAsync(string directory, CancellationToken ct)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"base model directory not found: '{directory}'.");
        // Content-addressed: the prefix comes from the files' hashes, computed once and handed to the upload.
        var manifest = await ArtifactBundle.DescribeAsync(directory, ct);
        var id = ArtifactKeys.Combine(manifest.Files.Select(f => $"{f.Path}:{f.Sha256}").ToArray())[..16];
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)));
        return await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, $"base/{name}-{id}", directory, manifest,
            ct);
    }

    public async Task<ArtifactRef> PublishSettingsAsync(PipelineSettings settings, CancellationToken ct)
    {
        var json = settings.ToJson();
        var path = Path.Combine(_options.WorkDirectory, "settings", $"upload-{Guid.NewGuid():N}.json");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, json, ct);
        try
        {
            return await store.PutFileAsync(Buckets.Models, $"settings/{ArtifactKeys.Sha256OfText(json)[..16]}.json",
                path, ct);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
