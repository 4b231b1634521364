// Ingestion's consumer: DatasetArrived → IngestionStage → DatasetCleaned, or DatasetRejected and a failed run.
// Redelivery republishes the stored outcome; bad input is an outcome, not an exception, so it is never retried.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Ingestion;

public sealed class DatasetArrivedConsumer(IngestionStage stage, StageSteps steps,
    RunInputs inputs) : IConsumer<DatasetArrived>
{
    public Task Consume(ConsumeContext<DatasetArrived> context)
    {
        var m = context.Message;
        return steps.RunAsync(context, m.RunId, Stages.Ingestion, RunStatus.ValidatingFiles,
            nameof(DatasetArrivedConsumer), async ct =>
        {
            var outcome = await stage.RunAsync(m, m.BaseModel ?? await inputs.DefaultBaseModelAsync(ct),
                m.Settings ?? await inputs.DefaultSettingsAsync(ct), ct);
            return outcome switch
            {
                Cleaned { Message: var cleaned } => new StageResult(cleaned, async s =>
                {
                    await s.RecordDatasetAsync(new(m.RunId, m.Project, cleaned.Prepared, cleaned.DataCard,
                        cleaned.Examples, cleaned.Rejected,
                        DateTimeOffset.UtcNow), ct);
                    await s.RecordArtifactAsync(m.RunId, "prepared", cleaned.Prepared, ct);
                    await s.AddLineageAsync(m.RunId, m.Source, cleaned.Prepared, "cleaned", ct);
                }, $"dataset cleaned: {cleaned.Examples} examples, {cleaned.Rejected} rejected"),
                Rejected { Message: var rejected } => new StageResult(rejected, async s =>
                {
                    await s.RecordArtifactAsync(m.RunId, "rejects", rejected.Rejects, ct);
                    await s.AddLineageAsync(m.RunId, m.Source, rejected.Rejects, "rejected", ct);
                    await s.SetRunStatusAsync(m.RunId, RunStatus.Failed, "dataset rejected: " + string.Join("; ",
                        rejected.Reasons), ct);
                }, "dataset rejected: " + string.Join("; ", rejected.Reasons)),
                Skipped { Reason: var reason } => new StageResult(new RunSkipped(m.RunId, reason),
                    s => s.SetRunStatusAsync(m.RunId, RunStatus.Cancelled, reason, ct), reason, Publish: false),
                _ => throw new InvalidOperationException($"unknown ingestion outcome {outcome.GetType().Name}"),
            };
        });
    }
}
