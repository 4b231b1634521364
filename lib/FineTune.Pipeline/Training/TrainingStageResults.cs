// What a finished stage of a multi-stage run (training.stages) leaves behind, so a restarted job starts the next
// stage instead of training this one again: its model (adapter or full) and report under the run's prefix in the
// models bucket, recorded as the run's artifacts stage-N-adapter|model and stage-N-training_report.
using System.Text.Json.Nodes;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Training;

namespace FineTune.Pipeline.Training;

sealed class TrainingStageResults(IArtifactStore store, RunInputs inputs, RunLedger ledger, TrainingRequested job)
{
    /// <summary>A stage's model, where it lies on this host, and how many steps it took.</summary>
    public sealed record Result(string Kind, ArtifactRef Model, string Directory, int Steps);

    /// <summary>The recorded stages by index (from 0): kind, model and report.</summary>
    public async Task<Dictionary<int, (string Kind, ArtifactRef Model, ArtifactRef Report)>> ListAsync(
        CancellationToken ct)
    {
        var artifacts = await ledger.Registry.ReadAsync(s => s.ListArtifactsAsync(job.RunId, ct), ct);
        var found = new Dictionary<int, (string, ArtifactRef, ArtifactRef)>();
        for (int i = 0; i < TrainingStages.Max; i++)
        {
            var prefix = $"stage-{i + 1}-";
            var model = artifacts.FirstOrDefault(a => a.Kind is var k && (k == prefix + "adapter" || k == prefix +
                "model"));
            var report = artifacts.FirstOrDefault(a => a.Kind == prefix + "training_report");
            if (model is not null && report is not null)
                found[i] = (model.Kind[prefix.Length..], model.Artifact, report.Artifact);
        }
        return found;
    }

    /// <summary>Uploads a finished stage's model and report, then records both in one write.</summary>
    public async Task<Result> RecordAsync(int index, string output, TrainingReport report, CancellationToken ct)
    {
        var (kind, model, reportRef) = await UploadAsync(store, $"{job.Project}/{job.RunId:N}/stage-{index + 1}",
            output, ct);
        await ledger.Registry.WriteAsync(async s =>
        {
            await s.RecordArtifactAsync(job.RunId, $"stage-{index + 1}-{kind}", model, ct);
            await s.RecordArtifactAsync(job.RunId, $"stage-{index + 1}-training_report", reportRef, ct);
            await s.AddLineageAsync(job.RunId, job.Shards, model, "trained", ct);
        }, ct);
        return new Result(kind, model, Path.Combine(output, kind), report.Steps);
    }

    /// <summary>A training output's model (adapter/ or model/) and report, put under <paramref name="prefix"/> in
    /// the models bucket.</summary>
    public static async Task<(string Kind, ArtifactRef Model, ArtifactRef Report)> UploadAsync(IArtifactStore store,
        string prefix, string output, CancellationToken ct)
    {
        var kind = Directory.Exists(Path.Combine(output, "adapter")) ? "adapter" : "model";
        var model = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, $"{prefix}/{kind}",
            Path.Combine(output, kind), ct);
        var report = await store.PutFileAsync(Buckets.Models, $"{prefix}/{TrainingReport.FileName}",
            Path.Combine(output, TrainingReport.FileName), ct);
        return (kind, model, report);
    }

    /// <summary>A stage recorded before a restart: its model (a bundle this host fetches once, as any run input)
    /// and steps.</summary>
    public async Task<Result> FetchAsync(int index, (string Kind, ArtifactRef Model, ArtifactRef Report) recorded,
        string output, CancellationToken ct)
    {
        var directory = await inputs.BundleAsync(recorded.Model, ct);
        var reportPath = Path.Combine(output, TrainingReport.FileName);
        if (!File.Exists(reportPath))
        {
            Directory.CreateDirectory(output);
            await store.GetFileAsync(recorded.Report, reportPath, ct);
        }
        var steps = JsonNode.Parse(await File.ReadAllTextAsync(reportPath, ct))?["steps"]?.GetValue<int>()
            ?? throw new InvalidDataException($"stage {index + 1}'s training report has no steps.");
        await ledger.EventAsync(job.RunId, "info", $"stage {index + 1} was trained before: its {recorded.Kind} " +
            "fetched from the models bucket", ct: ct);
        return new Result(recorded.Kind, recorded.Model, directory, steps);
    }
}
