// Ingestion's consumer: DatasetArrived → IngestionStage → DatasetCleaned, or DatasetRejected and a failed run.
// Redelivery republishes the stored outcome; bad input is an outcome, not an exception, so it is never retried.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Ingestion;

public sealed class DatasetArrivedConsumer(IngestionStage stage, RunLedger ledger, RunInputs inputs) : IConsumer<DatasetArrived>
{
    public async Task Consume(ConsumeContext<DatasetArrived> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        if (await ledger.CompletedAsync(m.RunId, Stages.Ingestion, ct) is { } done) { await Republish(context, done, m.RunId); return; }
        if (!await ledger.StartAsync(m.RunId, Stages.Ingestion, RunStatus.ValidatingFiles, ct)) return;

        var outcome = await stage.RunAsync(m, m.BaseModel ?? await inputs.DefaultBaseModelAsync(ct), m.Settings ?? await inputs.DefaultSettingsAsync(ct), ct);
        switch (outcome)
        {
            case Cleaned { Message: var cleaned }:
                if (await ledger.CompleteAsync(m.RunId, Stages.Ingestion, nameof(DatasetArrivedConsumer), context.MessageId ?? m.RunId, cleaned, async s =>
                    {
                        await s.RecordDatasetAsync(new(m.RunId, m.Project, cleaned.Prepared, cleaned.DataCard, cleaned.Examples, cleaned.Rejected, DateTimeOffset.UtcNow), ct);
                        await s.RecordArtifactAsync(m.RunId, "prepared", cleaned.Prepared, ct);
                        await s.AddLineageAsync(m.RunId, m.Source, cleaned.Prepared, "cleaned", ct);
                    }, $"dataset cleaned: {cleaned.Examples} examples, {cleaned.Rejected} rejected", ct))
                    await context.PublishForRun(cleaned, m.RunId, ct);
                break;
            case Rejected { Message: var rejected }:
                if (await ledger.CompleteAsync(m.RunId, Stages.Ingestion, nameof(DatasetArrivedConsumer), context.MessageId ?? m.RunId, rejected, async s =>
                    {
                        await s.RecordArtifactAsync(m.RunId, "rejects", rejected.Rejects, ct);
                        await s.AddLineageAsync(m.RunId, m.Source, rejected.Rejects, "rejected", ct);
                        await s.SetRunStatusAsync(m.RunId, RunStatus.Failed, "dataset rejected: " + string.Join("; ", rejected.Reasons), ct);
                    }, "dataset rejected: " + string.Join("; ", rejected.Reasons), ct))
                    await context.PublishForRun(rejected, m.RunId, ct);
                break;
            case Skipped { Reason: var reason }:
                await ledger.CompleteAsync(m.RunId, Stages.Ingestion, nameof(DatasetArrivedConsumer), context.MessageId ?? m.RunId,
                    new RunSkipped(m.RunId, reason), s => s.SetRunStatusAsync(m.RunId, RunStatus.Cancelled, reason, ct), reason, ct);
                break;
        }
        inputs.FreeStageDirectory(m.RunId, Stages.Ingestion);
    }

    static Task Republish(ConsumeContext context, StageOutput done, Guid runId) =>
        done.Is<DatasetCleaned>() ? context.PublishForRun(done.As<DatasetCleaned>(), runId, context.CancellationToken)
        : done.Is<DatasetRejected>() ? context.PublishForRun(done.As<DatasetRejected>(), runId, context.CancellationToken)
        : Task.CompletedTask;
}
