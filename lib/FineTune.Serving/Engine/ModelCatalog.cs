// The names the API serves: a base model, adapters over it (LoRA, unmerged, chosen per request), and aliases (the
// registry's "production", "candidate") pointing at one of them. A change swaps one immutable map: a request resolves
// its model once at its start and keeps it, so a promotion or rollback never touches a request in flight; a base no
// name refers to any more is retired once its running requests finish.
using System.Collections.Immutable;
using FineTune.Models.Inference;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Engine;

/// <summary>What a model name resolves to. <see cref="Version"/> changes whenever what answers under the name changes.
/// Pinned: given at start-up by the operator, so not removable over HTTP.</summary>
public sealed record ServedModel(string Id, LoadedModel Base, CpuLoraAdapter? Adapter, string? Parent, string Root,
    string Version, DateTimeOffset Created,
    bool Pinned = false);

public sealed class ModelCatalog(ILogger<ModelCatalog> logger, TimeProvider? time = null)
{
    readonly object _gate = new();
    readonly TimeProvider _time = time ?? TimeProvider.System;
    ImmutableDictionary<string, ServedModel> _models = ImmutableDictionary<string,
        ServedModel>.Empty.WithComparers(StringComparer.Ordinal);
    long _generation;

    /// <summary>Raised after every change, with the names whose meaning changed (the response cache listens).</summary>
    public event Action<IReadOnlyCollection<string>>? Changed;

    public IReadOnlyCollection<ServedModel> All =>
        _models.Values.OrderBy(m => m.Parent is null ? 0 : 1).ThenBy(m => m.Id, StringComparer.Ordinal).ToList();
    public bool IsEmpty => _models.IsEmpty;

    public bool TryResolve(string name, out ServedModel model) => _models.TryGetValue(name, out model!);

    /// <summary>Serves a base model under <paramref name="id"/> (replacing what had that name).</summary>
    public ServedModel AddBase(string id, LoadedModel model, string? version = null) =>
        Set(new ServedModel(id, model, null, null, model.Path, version ?? NextVersion(id), _time.GetUtcNow()));

    /// <summary>Serves a LoRA adapter over the base named <paramref name="parent"/>.</summary>
    public ServedModel AddAdapter(string id, string parent, string directory, string? version = null,
        bool pinned = false)
    {
        if (!TryResolve(parent, out var baseModel) || baseModel.Adapter is not null)
            throw new ArgumentException($"'{parent}' is not a served base model.");
        var adapter = baseModel.Base.PrepareAdapter(directory);
        return Set(new ServedModel(id, baseModel.Base, adapter, baseModel.Id, directory, version ?? NextVersion(id),
            _time.GetUtcNow(), pinned));
    }

    /// <summary>Distinct adapters held (several names, aliases, may serve one).</summary>
    public int AdapterCount =>
        _models.Values.Where(m => m.Adapter is not null).Select(m => m.Adapter).Distinct().Count();

    /// <summary>Points <paramref name="alias"/> at what <paramref name="target"/> serves now (an alias of an alias
    /// resolves through).</summary>
    public ServedModel SetAlias(string alias, string target)
    {
        if (!TryResolve(target, out var model))
            throw new ArgumentException($"'{target}' is not served.");
        return Set(model with
        {
            Id = alias,
            Parent = model.Parent ?? (model.Adapter is null ? null : model.Id),
            Version = model.Version
        });
    }

    /// <summary>Installs a prepared entry (the deployment host builds them from the registry).</summary>
    public ServedModel Set(ServedModel model)
    {
        List<LoadedModel> orphans;
        lock (_gate)
        {
            var before = _models;
            _models = _models.SetItem(model.Id, model);
            _generation++;
            orphans = Orphans(before, _models);
        }
        logger.LogInformation("serving {Model} (version {Version}{Adapter})", model.Id, model.Version,
            model.Adapter is null ? "" : $", adapter over {model.Parent}");
        Retire(orphans);
        Changed?.Invoke([model.Id]);
        return model;
    }

    public bool Remove(string id)
    {
        List<LoadedModel> orphans;
        lock (_gate)
        {
            if (!_models.ContainsKey(id))
                return false;
            var before = _models;
            _models = _models.Remove(id);
            _generation++;
            orphans = Orphans(before, _models);
        }
        logger.LogInformation("stopped serving {Model}", id);
        Retire(orphans);
        Changed?.Invoke([id]);
        return true;
    }

    string NextVersion(string id) => $"{id}@{Interlocked.Increment(ref _generation)}";

    static List<LoadedModel> Orphans(ImmutableDictionary<string, ServedModel> before,
        ImmutableDictionary<string, ServedModel> after)
    {
        var alive = after.Values.Select(m => m.Base).ToHashSet();
        return before.Values.Select(m => m.Base).Distinct().Where(b => !alive.Contains(b)).ToList();
    }

    void Retire(List<LoadedModel> orphans)
    {
        foreach (var model in orphans)
        {
            logger.LogInformation("retiring {Path} once its running requests finish", model.Path);
            _ = model.RetireAsync();
        }
    }

    public void DisposeAll()
    {
        foreach (var model in _models.Values.Select(m => m.Base).Distinct())
            model.Dispose();
        _models = _models.Clear();
    }
}
