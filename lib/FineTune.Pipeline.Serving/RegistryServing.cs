// The serving endpoint behind the registry's aliases: for each project, every alias (production, candidate) is served
// under a model name — "<project>" for production, "<project>:<alias>" for the others — and each version an alias
// points at under "<project>:v<N>". A version's base model and adapter come from the artifact store (downloaded once
// per content hash); an adapter version runs unmerged over its base, so versions of one base share its weights and
// its batch; a full-model version is a base of its own. Sync reads the aliases and swaps the names in one step each:
// requests in flight keep the version they started on. It runs at start, on ModelPromoted / ModelRolledBack, and every
// RegistryPollSeconds as a reconciliation. Running canary and shadow releases route the project's name between
// production and the release's alias (ReleaseRouter).
using System.Text.Json;
using FineTune.Registry;
using FineTune.Serving;
using FineTune.Serving.Engine;
using FineTune.Serving.Releases;
using FineTune.Text.Structured;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

public sealed class RegistryServing(RunRegistry registry, RunInputs inputs, ModelCatalog catalog,
    ServingOptions options, ServingMetrics metrics, ReleaseRouter releases,
    ILogger<RegistryServing> log) : BackgroundService
{
    readonly SemaphoreSlim _gate = new(1, 1);
    // by base bundle hash
    readonly Dictionary<string, (LoadedModel Model, string Name)> _bases = new(StringComparer.Ordinal);

    public static string ModelName(string project, string alias) =>
        alias == "production" ? project : $"{project}:{alias}";
    public static string VersionName(string project, int version) => $"{project}:v{version}";

    /// <summary>Brings the served names of every project (or one) in line with the registry's aliases.</summary>
    public async Task SyncAsync(string? project, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var aliases = await registry.ReadAsync(s => s.ListAliasesAsync(project, ct), ct);
            var wanted = new HashSet<string>(StringComparer.Ordinal);
            foreach (var alias in aliases)
            {
                var record = await registry.ReadAsync(s => s.GetModelVersionAsync(alias.Project, alias.Version, ct), ct)
                             ?? throw new InvalidOperationException($"{alias.Project}/{alias.Alias} points at " +
                                 $"version {alias.Version}, which is not registered.");
                var version = await EnsureVersionAsync(record, ct);
                var name = ModelName(alias.Project, alias.Alias);
                wanted.Add(name);
                wanted.Add(version);
                var target = Resolve(version);
                if (!catalog.TryResolve(name,
                    out var current) || current.Adapter != target.Adapter || current.Base != target.Base)
                {
                    catalog.SetAlias(name, version);
                    log.LogInformation("Serving {Name} = {Project} version {Version}", name, alias.Project,
                        alias.Version);
                }
            }
            // Names of this scope no alias needs any more (superseded versions): dropped; a base nothing refers to is
            // freed once its running requests finish.
            foreach (var served in catalog.All)
                if (Owned(served.Id, project) && !wanted.Contains(served.Id))
                    catalog.Remove(served.Id);
            foreach (var (hash, (model, name)) in _bases.ToList())
                if (!catalog.All.Any(m => m.Base == model))
                {
                    catalog.Remove(name);
                    _bases.Remove(hash);
                }
            await SyncReleasesAsync(project, ct);
        }
        finally
        {
            _gate.Release();
        }
    }

    // Running canary and shadow releases: the project's name is routed between production and the release's alias.
    async Task SyncReleasesAsync(string? project, CancellationToken ct)
    {
        var running = await registry.ReadAsync(s => s.ListReleasesAsync(project, runningOnly: true, ct), ct);
        var served = new List<ServedRelease>();
        foreach (var r in running)
        {
            var candidate = ModelName(r.Project, r.Policy);
            if (!catalog.TryResolve(candidate, out _))
                continue;
            var id = ReleaseAnalysis.ReleaseId(r.Project, r.Version);
            // a release already routed keeps its compiled output schema: a release's settings never change
            if (releases.TryGet(r.Project, out var routed) && routed.Id == id && routed.Candidate == candidate)
            {
                served.Add(routed);
                continue;
            }
            var settings = JsonSerializer.Deserialize<ReleaseSettings>(r.SettingsJson, PipelineSettings.Json)!;
            served.Add(new ServedRelease(id, r.Project, candidate,
                r.Policy == "canary" ? ReleaseMode.Canary : ReleaseMode.Shadow, settings.CanaryWeight,
                settings.OutputSchema is { } schema ? JsonSchemaCompiler.Compile(schema) : null));
        }
        releases.Replace(name => Owned(name, project), served);
    }

    ServedModel Resolve(string name) =>
        catalog.TryResolve(name, out var model) ? model : throw new InvalidOperationException($"'{name}' vanished");

    // "<project>", "<project>:<alias>", "<project>:v<N>": the project is everything before the first ':' (a project
    // name holds none, ResourceNames), so project "support" never owns "support-eu:v1" nor anything of another project.
    static bool Owned(string id, string? project)
    {
        if (id.StartsWith(BasePrefix, StringComparison.Ordinal))
            return project is null;
        int colon = id.IndexOf(':');
        return project is null || (colon < 0 ? id : id[..colon]) == project;
    }

    // Shared bases are named "base@<hash>": '@' is in no project name, so no project can own or shadow one.
    const string BasePrefix = "base@";

    async Task<string> EnsureVersionAsync(ModelVersionRecord record, CancellationToken ct)
    {
        var name = VersionName(record.Project, record.Version);
        if (catalog.TryResolve(name, out _))
            return name;
        if (record.Kind == "adapter")
        {
            var baseName = await EnsureBaseAsync(record.BaseModel, ct);
            var adapter = await inputs.BundleAsync(record.Model, ct);
            catalog.AddAdapter(name, baseName, adapter, version: $"{record.Project}@v{record.Version}");
        }
        else
        {
            var dir = await inputs.BundleAsync(record.Model, ct);
            var model = await Task.Run(() => LoadedModel.Load(dir, options, metrics, log), ct);
            catalog.AddBase(name, model, version: $"{record.Project}@v{record.Version}");
        }
        return name;
    }

    async Task<string> EnsureBaseAsync(FineTune.Contracts.ArtifactRef baseModel, CancellationToken ct)
    {
        if (_bases.TryGetValue(baseModel.Sha256, out var known) && catalog.TryResolve(known.Name, out _))
            return known.Name;
        var dir = await inputs.BundleAsync(baseModel, ct);
        var model = await Task.Run(() => LoadedModel.Load(dir, options, metrics, log), ct);
        var name = BasePrefix + baseModel.Sha256[..12];
        catalog.AddBase(name, model, version: name);
        _bases[baseModel.Sha256] = (model, name);
        return name;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromSeconds(Math.Max(1, options.RegistryPollSeconds));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await SyncAsync(null, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "Syncing the served models with the registry failed; retrying in {Seconds} s",
                    interval.TotalSeconds);
            }
            try
            {
                await Task.Delay(interval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
