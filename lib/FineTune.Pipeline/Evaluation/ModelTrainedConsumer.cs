// Evaluation's consumer: ModelTrained → EvaluationStage (candidate vs production on the same suites, then the gate)
// → EvaluationCompleted with the decision and its reasons.
using System.Text.Json;
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Evaluation;

public sealed class ModelTrainedConsumer(EvaluationStage stage, StageSteps steps,
    PipelineTelemetry telemetry) : IConsumer<ModelTrained>
{
    public Task Consume(ConsumeContext<ModelTrained> context)
    {
        var m = context.Message;
        return steps.RunAsync(context, m.RunId, Stages.Evaluation, RunStatus.Running, nameof(ModelTrainedConsumer),
            async ct =>
        {
            var (evaluated, decision) = await stage.RunAsync(m, ct);
            foreach (var (metric, value) in evaluated.CandidateMetrics)
                telemetry.Score(metric, "candidate", value);
            foreach (var (metric, value) in evaluated.BaselineMetrics)
                telemetry.Score(metric, "baseline", value);
            return new StageResult(evaluated, async s =>
            {
                await s.RecordEvaluationAsync(new(m.Project, m.ModelVersion, m.RunId, evaluated.BaselineVersion,
                    evaluated.Promote,
                    evaluated.Reasons, JsonSerializer.Serialize(evaluated.CandidateMetrics),
                        JsonSerializer.Serialize(evaluated.BaselineMetrics),
                    evaluated.Gate, DateTimeOffset.UtcNow), ct);
                await s.RecordArtifactAsync(m.RunId, "evaluation", evaluated.CandidateResults, ct);
                await s.RecordArtifactAsync(m.RunId, "gate", evaluated.Gate, ct);
                if (evaluated.Report is { } report)
                    await s.RecordArtifactAsync(m.RunId, "evaluation_report", report,
                    ct);
                await s.AddLineageAsync(m.RunId, m.Model, evaluated.CandidateResults, "evaluated", ct);
                await s.AddLineageAsync(m.RunId, evaluated.CandidateResults, evaluated.Gate, "gated", ct);
            }, $"model version {m.ModelVersion} evaluated: gate says " +
                $"{(decision.Promote ? "promote" : "keep the baseline")}");
        });
    }
}
