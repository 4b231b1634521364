// training_report.json: what ran (the resolved config, the data's hashes, the method and its parameter counts), how it
// went (metrics history, evaluations, the best step, why it stopped) and what it cost (time, tokens, peak memory).
using System.Text.Json;
using System.Text.Json.Nodes;
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training;

public sealed record TrainingReport
{
    public const string FileName = "training_report.json";

    public required string RunId { get; init; }
    public required JsonNode Config { get; init; }
    public required string Method { get; init; }
    public required string Objective { get; init; }
    public required string PeftType { get; init; }
    public required DataSummary Data { get; init; }
    public required long ParametersTotal { get; init; }
    public required long ParametersTrainable { get; init; }
    public required IReadOnlyList<string> TrainableTensors { get; init; }
    public required int Steps { get; init; }
    public required int TotalSteps { get; init; }
    /// <summary>completed, early_stopped or cancelled.</summary>
    public required string StopReason { get; init; }
    public int? BestStep { get; init; }
    public double? BestValidLoss { get; init; }
    public required double Seconds { get; init; }
    public required long Tokens { get; init; }
    public required double TokensPerSecond { get; init; }
    public required long PeakMemoryBytes { get; init; }
    public string? ResumedFrom { get; init; }
    public required string Output { get; init; }
    public required IReadOnlyList<StepMetrics> History { get; init; }
    public required IReadOnlyList<EvalMetrics> Evals { get; init; }

    public sealed record DataSummary(string Path, IReadOnlyList<FileDigest> Shards,
        IReadOnlyList<FileDigest> TokenizerFiles, long TrainExamples, long ValidationExamples);

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower
    };

    internal static TrainingReport Build(TrainingConfig config, string configJson, TokenizedManifest manifest,
        Llama model, AdamWOptimizer optimizer,
        IReadOnlyList<StepMetrics> history, IReadOnlyList<EvalMetrics> evals, TrainerState state, string stopReason,
            double seconds, string output,
        string runId, string? resumedFrom, int totalSteps)
    {
        var shards = manifest.Splits.SelectMany(s => s.Value.Shards.Select(sh => new FileDigest($"{s.Key}/{sh.File}",
            sh.Bytes, sh.Sha256))).ToList();
        long tokens = history.Sum(h => h.Tokens);
        return new TrainingReport
        {
            RunId = runId, Config = JsonNode.Parse(configJson)!, Method = ConfigNames.Of(config.Method),
            Objective = ConfigNames.Of(config.Objective),
            PeftType = model.Adapter?.PeftType ?? "FULL",
            Data = new DataSummary(config.Data.Path, shards, manifest.TokenizerFiles,
                manifest.Splits.TryGetValue("train", out var t) ? t.Counts.Examples : 0,
                manifest.Splits.TryGetValue("validation", out var v) ? v.Counts.Examples : 0),
            ParametersTotal = model.Config.ParameterCount() + model.AdapterParameters().Sum(p => p.Parameter.numel()),
            ParametersTrainable = optimizer.Parameters.Sum(p => p.numel()),
            TrainableTensors = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p =>
                p.name).ToList(),
            Steps = history.Count == 0 ? state.Step : history[^1].Step, TotalSteps = totalSteps,
            StopReason = stopReason,
            BestStep = state.BestStep, BestValidLoss = state.BestValidLoss, Seconds = seconds, Tokens = tokens,
            TokensPerSecond = seconds > 0 ? tokens / seconds : 0,
            PeakMemoryBytes = history.Count == 0 ? 0 : history.Max(h => h.PeakMemoryBytes),
            ResumedFrom = resumedFrom, Output = output, History = history, Evals = evals,
        };
    }

    public void Write(string path)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(this, Json));
        File.Move(tmp, path, overwrite: true);
    }

    public static TrainingReport Read(string path) =>
        JsonSerializer.Deserialize<TrainingReport>(File.ReadAllText(path),
            Json) ?? throw new InvalidDataException($"{path}: empty report.");
}
