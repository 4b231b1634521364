// Training's consumer: records the job and returns at once (RabbitMQ cancels a delivery not acknowledged within 30
// minutes; training takes longer). TrainingWorker runs it. The inbox row and the job row share one transaction.
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Training;

public sealed class TrainingRequestedConsumer(RunLedger ledger) : IConsumer<TrainingRequested>
{
    public async Task Consume(ConsumeContext<TrainingRequested> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        await using var s = await ledger.Registry.BeginAsync(ct);
        if (!await s.TryMarkProcessedAsync(nameof(TrainingRequestedConsumer), context.MessageId ?? m.RunId, ct))
            return;
        var run = await s.GetRunAsync(m.RunId, ct);
        if (run is null || RunStatus.IsTerminal(run.Status))
            return;
        if (await s.EnqueueTrainingJobAsync(m.RunId,
            new TrainingJobRequest(m, System.Diagnostics.Activity.Current?.Id).ToJson(), ct))
        {
            await s.SetRunStatusAsync(m.RunId, RunStatus.Queued, null, ct);
            await s.RecordArtifactAsync(m.RunId, "training_config", m.Config, ct);
            await s.AppendEventAsync(m.RunId, "info", "message", "training job queued", null, ct);
        }
        await s.CommitAsync(ct);
    }
}
