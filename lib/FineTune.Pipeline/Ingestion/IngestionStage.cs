// The ingestion stage's work for one dropped file: download (verified) → data prepare (validate, clean, de-duplicate,
// split) → with cumulative data, merge the project's previous dataset → upload splits, card and rejects.
// The outcome is a cleaned dataset, a rejection with reasons, or a skip decided by the retraining policy.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Registry;

namespace FineTune.Pipeline.Ingestion;

public abstract record IngestionOutcome;
public sealed record Cleaned(DatasetCleaned Message) : IngestionOutcome;
public sealed record Rejected(DatasetRejected Message) : IngestionOutcome;
public sealed record Skipped(string Reason) : IngestionOutcome;

public sealed class IngestionStage(IArtifactStore store, RunInputs inputs, RunRegistry registry)
{
    public async Task<IngestionOutcome> RunAsync(DatasetArrived arrived, ArtifactRef baseModel,
        ArtifactRef settingsRef, CancellationToken ct)
    {
        var settings = await inputs.SettingsAsync(settingsRef, ct);
        // Settings that cannot fit the base model fail here, before any stage spends time on the data.
        settings.MaxLengthFor((await inputs.ModelConfigAsync(baseModel, ct)).MaxPositionEmbeddings,
            $"{settingsRef.Bucket}/{settingsRef.Key}");
        var work = inputs.StageDirectory(arrived.RunId, Stages.Ingestion);
        var source = Path.Combine(work, "source", Path.GetFileName(arrived.Source.Key));
        await store.GetFileAsync(arrived.Source, source, ct);

        var prepared = Path.Combine(work, "prepared");
        var prefix = $"{arrived.Project}/{arrived.RunId:N}";
        PrepareResult result;
        try
        {
            result = await DatasetPreparer.PrepareAsync(source, prepared, settings.PrepareOptions(), ct: ct);
        }
        catch (InvalidDatasetException e)
        {
            // Unreadable as a whole (unknown format, broken container): the rejects report is the reason itself.
            Directory.CreateDirectory(prepared);
            var path = Path.Combine(prepared, "rejects.jsonl");
            await File.WriteAllTextAsync(path,
                System.Text.Json.JsonSerializer.Serialize(new { line = 0, field = "", reason = e.Message }) + "\n", ct);
            return Reject(arrived, await store.PutFileAsync(Buckets.Datasets, $"{prefix}/rejects.jsonl", path, ct),
                [e.Message]);
        }

        var rejects = await store.PutFileAsync(Buckets.Datasets, $"{prefix}/rejects.jsonl",
            Path.Combine(prepared, "rejects.jsonl"), ct);
        if (!result.Verdict.Ok)
        {
            await store.PutFileAsync(Buckets.Datasets, $"{prefix}/validation_report.json",
                Path.Combine(prepared, "validation_report.json"), ct);
            await store.PutFileAsync(Buckets.Datasets, $"{prefix}/data_card.json",
                Path.Combine(prepared, "data_card.json"), ct);
            var reasons = new List<string> { result.Verdict.Message };
            reasons.AddRange(result.Counts.RejectedByCode.OrderByDescending(p => p.Value).Take(3).Select(p =>
                $"{p.Value} records: {p.Key}"));
            return Reject(arrived, rejects, reasons);
        }

        long newExamples = result.Counts.Train + result.Counts.Validation + result.Counts.Test;
        var policy = settings.Retraining;
        var previous = await registry.ReadAsync(s => s.ListDatasetsAsync(arrived.Project, ct), ct);
        previous = previous.Where(d => d.RunId != arrived.RunId).ToList();
        if (policy.Data == RetrainingData.Cumulative && previous.Count > 0)
            await MergePreviousAsync(await inputs.BundleAsync(previous[^1].Prepared, ct), prepared, ct);

        var preparedRef = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Datasets, $"{prefix}/prepared",
            prepared, ct);
        var card = await store.PutFileAsync(Buckets.Datasets, $"{prefix}/data_card.json",
            Path.Combine(prepared, "data_card.json"), ct);

        if (previous.Count > 0 && newExamples < policy.MinNewExamples)
            return new Skipped($"retraining policy: {newExamples} new examples, fewer than min_new_examples = " +
                $"{policy.MinNewExamples}; the data is kept for the next run");
        if (previous.Count > 0 && policy.CooldownMinutes > 0
            && DateTimeOffset.UtcNow - previous[^1].CreatedAt < TimeSpan.FromMinutes(policy.CooldownMinutes))
            return new Skipped($"retraining policy: the project's previous dataset is younger than cooldown_minutes " +
                $"= {policy.CooldownMinutes}");

        return new Cleaned(new DatasetCleaned
        {
            RunId = arrived.RunId, Project = arrived.Project, Prepared = preparedRef, DataCard = card,
            Examples = CountLines(prepared), Rejected = result.Counts.Rejected, BaseModel = baseModel,
            Settings = settingsRef,
        });
    }

    static Rejected Reject(DatasetArrived arrived, ArtifactRef rejects, IReadOnlyList<string> reasons) =>
        new(new DatasetRejected
        {
            RunId = arrived.RunId, Project = arrived.Project, Rejects = rejects,
            Reasons = reasons
        });

    // Cumulative data: the previous dataset's splits are appended to this one's, split by split (splits are keyed by
    // prompt hash, so an example keeps its split), dropping lines already present.
    static async Task MergePreviousAsync(string previousDir, string prepared, CancellationToken ct)
    {
        foreach (var file in DatasetPreparer.SplitFiles)
        {
            var old = Path.Combine(previousDir, file);
            if (!File.Exists(old))
                continue;
            var target = Path.Combine(prepared, file);
            var seen = File.Exists(target) ? new HashSet<string>(await File.ReadAllLinesAsync(target, ct),
                StringComparer.Ordinal) : [];
            await using var writer = File.AppendText(target);
            foreach (var line in await File.ReadAllLinesAsync(old, ct))
                if (line.Length > 0 && seen.Add(line))
                    await writer.WriteLineAsync(line);
        }
    }

    static long CountLines(string prepared) =>
        DatasetPreparer.SplitFiles.Select(f => Path.Combine(prepared,
            f)).Where(File.Exists).Sum(f => File.ReadLines(f).LongCount(l => l.Length > 0));
}
