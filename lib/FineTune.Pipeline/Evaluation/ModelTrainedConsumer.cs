// Evaluation's consumer: ModelTrained → EvaluationStage (candidate vs production on the same suites, then the gate)
// → EvaluationCompleted with the decision and its reasons.
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Evaluation;

public sealed class ModelTrainedConsumer(EvaluationStage stage, RunLedger ledger, PipelineTelemetry telemetry, RunInputs inputs) : IConsumer<ModelTrained>
{
    public async Task Consume(ConsumeContext<ModelTrained> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        if (await ledger.CompletedAsync(m.RunId, Stages.Evaluation, ct) is { } done) { await context.PublishForRun(done.As<EvaluationCompleted>(), m.RunId, ct); return; }
        if (!await ledger.StartAsync(m.RunId, Stages.Evaluation, RunStatus.Running, ct)) return;

        var (evaluated, decision) = await stage.RunAsync(m, ct);
        foreach (var (metric, value) in evaluated.CandidateMetrics) telemetry.Score(metric, "candidate", value);
        foreach (var (metric, value) in evaluated.BaselineMetrics) telemetry.Score(metric, "baseline", value);
        if (await ledger.CompleteAsync(m.RunId, Stages.Evaluation, nameof(ModelTrainedConsumer), context.MessageId ?? m.RunId, evaluated, async s =>
            {
                await s.RecordEvaluationAsync(new(m.Project, m.ModelVersion, m.RunId, evaluated.BaselineVersion, evaluated.Promote, evaluated.Reasons,
                    System.Text.Json.JsonSerializer.Serialize(evaluated.CandidateMetrics), System.Text.Json.JsonSerializer.Serialize(evaluated.BaselineMetrics),
                    evaluated.Gate, DateTimeOffset.UtcNow), ct);
                await s.RecordArtifactAsync(m.RunId, "evaluation", evaluated.CandidateResults, ct);
                await s.RecordArtifactAsync(m.RunId, "gate", evaluated.Gate, ct);
                await s.AddLineageAsync(m.RunId, m.Model, evaluated.CandidateResults, "evaluated", ct);
                await s.AddLineageAsync(m.RunId, evaluated.CandidateResults, evaluated.Gate, "gated", ct);
            }, $"model version {m.ModelVersion} evaluated: gate says {(decision.Promote ? "promote" : "keep the baseline")}", ct))
            await context.PublishForRun(evaluated, m.RunId, ct);
        inputs.FreeStageDirectory(m.RunId, Stages.Evaluation);
    }
}
