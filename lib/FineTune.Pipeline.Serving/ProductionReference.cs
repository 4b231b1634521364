// What a project's live traffic is measured against: its production version (the run alerts go to), the data card of
// the dataset that version was trained on (prompt profile, labels) and the output schema of the settings it was
// deployed with (the run's "configured" lineage edge, release.output_schema). Read once per production version.
using System.Collections.Concurrent;
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data.Cleaning;
using FineTune.Pipeline.Deployment;
using FineTune.Registry;
using FineTune.Text.Structured;

namespace FineTune.Pipeline.Serving;

/// <summary>Profile, Labels, Schema: null where the card or settings have none.</summary>
public sealed record ProductionReference(int Version, Guid Run, PromptProfile? Profile, LabelDistribution? Labels,
    JsonGrammar? Schema);

public sealed class ProductionReferences(RunRegistry registry, IArtifactStore store)
{
    readonly ConcurrentDictionary<string, ProductionReference> _known = new();

    /// <summary>The project's reference, or null while it has no production version.</summary>
    public async Task<ProductionReference?> GetAsync(string project, CancellationToken ct)
    {
        var (version, run, card, settings) = await registry.ReadAsync(async s =>
        {
            if (await s.GetAliasAsync(project, "production", ct) is not { } v
                || await s.GetModelVersionAsync(project, v, ct) is not { } record)
                return (0, Guid.Empty, (ArtifactRef?)null, (ArtifactRef?)null);
            if (_known.TryGetValue(project, out var known) && known.Version == v)
                return (v, record.RunId, null, null);
            var datasets = await s.ListDatasetsAsync(project, ct);
            var dataset = datasets.FirstOrDefault(d => d.RunId == record.RunId) ?? datasets.LastOrDefault();
            var configured = (await s.ListLineageAsync(record.RunId, ct))
                .LastOrDefault(e => e.Relation == Deployments.Configured)?.From;
            return (v, record.RunId, dataset?.DataCard, configured);
        }, ct);
        if (version == 0)
            return null;
        if (_known.TryGetValue(project, out var cached) && cached.Version == version)
            return cached;
        PromptProfile? profile = null;
        LabelDistribution? labels = null;
        if (card is not null)
        {
            using var json = JsonDocument.Parse(await ReadAsync(card, ct));
            if (json.RootElement.TryGetProperty("prompt_profile", out var p))
                profile = PromptProfile.Read(p);
            if (json.RootElement.TryGetProperty("labels", out var l))
                labels = LabelDistribution.Read(l);
        }
        JsonGrammar? schema = null;
        if (settings is not null)
        {
            var parsed = PipelineSettings.Parse(await ReadAsync(settings, ct), $"{settings.Bucket}/{settings.Key}");
            if (parsed.Release.OutputSchema is { } s)
                schema = JsonSchemaCompiler.Compile(s, "release.output_schema");
        }
        return _known[project] = new ProductionReference(version, run, profile, labels, schema);
    }

    Task<string> ReadAsync(ArtifactRef artifact, CancellationToken ct) => ArtifactText.ReadAsync(store, artifact, ct);
}
