// The steps every stage consumer takes, in the order the delivery rules need: an earlier completion of the stage is
// republished instead of redone; a run that has already ended is left alone; the work runs; its records, the inbox row
// and the output to publish commit in one transaction; the output is published; the stage's scratch space is freed.
using FineTune.Registry;
using MassTransit;

namespace FineTune.Pipeline.Runs;

/// <summary>What a stage's work produced: the message to store (and publish), the registry rows that go with it, and
/// the event line a person reads.</summary>
public sealed record StageResult(object Output, Func<IRegistrySession, Task>? Records, string Message,
    bool Publish = true);

public sealed class StageSteps(RunLedger ledger, RunInputs inputs)
{
    /// <param name="status">The run's status while the stage works (null: unchanged).</param>
    public async Task RunAsync(ConsumeContext context, Guid runId, string stage, string? status, string consumer,
        Func<CancellationToken, Task<StageResult>> work)
    {
        var ct = context.CancellationToken;
        if (await ledger.CompletedAsync(runId, stage, ct) is { } done)
        {
            if (done.ToContract() is { } earlier)
                await context.PublishForRun(earlier, runId, ct);
            return;
        }
        if (!await ledger.StartAsync(runId, stage, status, ct))
            return;

        var result = await work(ct);
        if (await ledger.CompleteAsync(runId, stage, consumer, context.MessageId ?? runId, result.Output,
            result.Records, result.Message, ct)
            && result.Publish)
            await context.PublishForRun(result.Output, runId, ct);
        inputs.FreeStageDirectory(runId, stage);
    }
}
