// Training's intake: DatasetTokenized → the run's TrainingRequested (resolved training config, and the production
// adapter to start from when the retraining policy says so). Deterministic, so a redelivery republishes the same
// request.
using System.Text.Json.Nodes;
using FineTune.Artifacts;
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Training;

public sealed class DatasetTokenizedConsumer(IArtifactStore store, RunInputs inputs,
    RunLedger ledger) : IConsumer<DatasetTokenized>
{
    public async Task Consume(ConsumeContext<DatasetTokenized> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        var settings = await inputs.SettingsAsync(m.Settings, ct);
        ArtifactRef? initial = null;
        if (settings.Retraining.StartFrom == RetrainingStart.Production)
        {
            var production = await ledger.Registry.ReadAsync(async s =>
                await s.GetAliasAsync(m.Project, "production", ct) is { } v ? await s.GetModelVersionAsync(m.Project,
                    v, ct) : null, ct);
            if (production is { Kind: "adapter" } && production.BaseModel == m.BaseModel)
                initial = production.Model;
        }

        var config = (JsonObject)settings.Training.DeepClone();
        var path = Path.Combine(inputs.StageDirectory(m.RunId, "training-request"), "training_config.json");
        await File.WriteAllTextAsync(path,
            config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), ct);
        var configRef = await store.PutFileAsync(Buckets.Models, $"{m.Project}/{m.RunId:N}/training_config.json", path,
            ct);

        await context.PublishForRun(new TrainingRequested
        {
            RunId = m.RunId, Project = m.Project, Shards = m.Shards, Prepared = m.Prepared, BaseModel = m.BaseModel,
            Config = configRef, InitialAdapter = initial, Settings = m.Settings,
        }, m.RunId, ct);
    }
}
