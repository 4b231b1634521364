// The pipeline's own telemetry, beside MassTransit's and the training engine's: a trace per run (the ActivitySource
// the training worker continues a run's trace with) and the meter "FineTune.Pipeline" — stage durations, queue lag,
// finished runs, evaluation scores. ServiceDefaults exports both.
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FineTune.Pipeline;

public sealed class PipelineTelemetry
{
    public const string Name = "FineTune.Pipeline";
    /// <summary>One source for the pipeline's own spans (the training job); read-only after creation.</summary>
    public static readonly ActivitySource Source = new(Name);

    readonly Histogram<double> _stageSeconds;
    readonly Histogram<double> _queueLag;
    readonly Counter<long> _runsFinished;
    readonly Histogram<double> _evaluationScore;
    readonly Counter<long> _evaluationItems;

    public PipelineTelemetry(IMeterFactory meters)
    {
        var meter = meters.Create(Name);
        _stageSeconds = meter.CreateHistogram<double>("finetune.pipeline.stage.duration", "s",
            "Time a stage took for one run");
        _queueLag = meter.CreateHistogram<double>("finetune.pipeline.queue.lag", "s",
            "From a message's publish to the start of its consumption");
        _runsFinished = meter.CreateCounter<long>("finetune.pipeline.runs.finished",
            description: "Runs that ended, by status and decision");
        _evaluationScore = meter.CreateHistogram<double>("finetune.pipeline.evaluation.score",
            description: "Evaluation metrics of candidates and baselines");
        _evaluationItems = meter.CreateCounter<long>("finetune.pipeline.evaluation.items",
            description: "Items (questions, problems, test examples) scored by the Evaluation stage, by suite " +
                "and role");
    }

    public void StageCompleted(string stage, string outcome, TimeSpan elapsed) =>
        _stageSeconds.Record(elapsed.TotalSeconds, new("stage", stage), new("outcome", outcome));

    public void Consumed(string messageType, TimeSpan lag) =>
        _queueLag.Record(Math.Max(0, lag.TotalSeconds), new KeyValuePair<string, object?>("message", messageType));

    public void RunFinished(string status, string? decision) =>
        _runsFinished.Add(1, new("status", status), new("decision", decision ?? ""));

    public void EvaluationItems(string suite, string role, long items) =>
        _evaluationItems.Add(items, new("suite", suite), new("role", role));

    public void Score(string metric, string role, double value) =>
        _evaluationScore.Record(value, new("metric", metric), new("role", role));
}
