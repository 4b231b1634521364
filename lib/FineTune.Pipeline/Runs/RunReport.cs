// OUT/report.json of `finetune run`, and the files it collects beside it: the data card (or the rejects), the adapter
// or model, the training report and the evaluation results with the gate's decision. Read from the registry and the
// store, so it describes the run exactly as the services recorded it.
using System.Text.Json;
using System.Text.Json.Serialization;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;

namespace FineTune.Pipeline.Runs;

public sealed record StageSummary(string Name, string Status, double? Seconds, int Attempts, string? Error);

public sealed record RunReport
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required string Status { get; init; }
    /// <summary>promoted, rejected, or null when the run ended before the gate (failed, cancelled).</summary>
    public string? Decision { get; init; }
    public required IReadOnlyList<string> Reasons { get; init; }
    public int? ModelVersion { get; init; }
    public int? BaselineVersion { get; init; }
    public string? Error { get; init; }
    public required IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Metrics { get; init; }
    public required IReadOnlyList<StageSummary> Stages { get; init; }
    public required IReadOnlyDictionary<string, string> Files { get; init; }
    public required double Seconds { get; init; }

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };

    /// <summary>Writes OUT/report.json and the run's files into <paramref name="outDir"/>.</summary>
    public static async Task<RunReport> WriteAsync(RunRegistry registry, IArtifactStore store, Guid runId,
        string outDir, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        var (run, stages, outputs) = await registry.ReadAsync(async s =>
        {
            var r = await s.GetRunAsync(runId,
                ct) ?? throw new InvalidOperationException($"run {runId} is not in the registry.");
            return (r, await s.ListStagesAsync(runId, ct), await StageOutput.ReadAllAsync(s, runId, ct));
        }, ct);

        var files = new Dictionary<string, string>();
        async Task Fetch(ArtifactRef artifact, string name)
        {
            await store.GetFileAsync(artifact, Path.Combine(outDir, name), ct);
            files[name] = $"{artifact.Bucket}/{artifact.Key}";
        }
        async Task FetchBundle(ArtifactRef manifest, string name)
        {
            var dir = Path.Combine(outDir, name);
            if (Directory.Exists(dir))
                Directory.Delete(dir, recursive: true);
            await ArtifactBundle.GetDirectoryAsync(store, manifest, dir, ct);
            files[name] = $"{manifest.Bucket}/{manifest.Key}";
        }

        if (outputs.GetValueOrDefault(FineTune.Contracts.Stages.Ingestion) is { } ingestion)
        {
            if (ingestion.Is<DatasetCleaned>())
            {
                var cleaned = ingestion.As<DatasetCleaned>();
                await Fetch(cleaned.DataCard, "data_card.json");
                if (outputs.GetValueOrDefault(FineTune.Contracts.Stages.Tokenization) is { } tokenization)
                    await AddTokenizationAsync(Path.Combine(outDir, "data_card.json"),
                        tokenization.As<DatasetTokenized>(), ct);
            }
            else if (ingestion.Is<DatasetRejected>())
                await Fetch(ingestion.As<DatasetRejected>().Rejects, "rejects.jsonl");
        }
        if (outputs.GetValueOrDefault(FineTune.Contracts.Stages.Training) is { } training)
        {
            var trained = training.As<ModelTrained>();
            await FetchBundle(trained.Model, trained.Kind);
            // An adapter trained over earlier stages merged into the base applies to that model: it comes beside it.
            if (trained.RunBaseModel is not null && trained.Kind == "adapter")
                await FetchBundle(trained.BaseModel, "base_model");
            await Fetch(trained.Report, "training_report.json");
        }
        var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>>();
        int? baselineVersion = null;
        if (outputs.GetValueOrDefault(FineTune.Contracts.Stages.Evaluation) is { } evaluation)
        {
            var evaluated = evaluation.As<EvaluationCompleted>();
            await Fetch(evaluated.CandidateResults, "evaluation/candidate_results.json");
            await Fetch(evaluated.BaselineResults, "evaluation/baseline_results.json");
            await Fetch(evaluated.Gate, "evaluation/gate.json");
            if (evaluated.Report is { } comparison)
                await Fetch(comparison, "evaluation/report.md");
            if (evaluated.ReportJson is { } comparisonJson)
                await Fetch(comparisonJson, "evaluation/comparison.json");
            metrics["candidate"] = evaluated.CandidateMetrics;
            metrics["baseline"] = evaluated.BaselineMetrics;
            baselineVersion = evaluated.BaselineVersion;
        }

        var report = new RunReport
        {
            RunId = run.RunId, Project = run.Project, Status = run.Status, Decision = run.Decision,
            Reasons = run.Reasons,
            ModelVersion = run.ModelVersion, BaselineVersion = baselineVersion, Error = run.Error, Metrics = metrics,
            Stages = stages.Select(s => new StageSummary(s.Stage, s.Status, s.Seconds, s.Attempts, s.Error)).ToList(),
            Files = files, Seconds = ((run.FinishedAt ?? DateTimeOffset.UtcNow) - run.CreatedAt).TotalSeconds,
        };
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.json"), JsonSerializer.Serialize(report, Json), ct);
        return report;
    }

    // The card ingestion wrote, with what tokenization did to the examples' lengths: per split, examples kept, of those
    // truncated to max_length, and dropped.
    static async Task AddTokenizationAsync(string cardPath, DatasetTokenized tokenized, CancellationToken ct)
    {
        if (tokenized.Splits is null)
            return;
        var card = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(cardPath, ct))!.AsObject();
        card["tokenization"] = JsonSerializer.SerializeToNode(new
        {
            max_length = tokenized.MaxLength,
            truncation = tokenized.Truncation,
            splits = tokenized.Splits.ToDictionary(s => s.Key, s => new
            {
                examples = s.Value.Examples, truncated = s.Value.Truncated, dropped = s.Value.Dropped,
                tokens = s.Value.Tokens,
            }),
        });
        await File.WriteAllTextAsync(cardPath, card.ToJsonString(Json), ct);
    }
}
