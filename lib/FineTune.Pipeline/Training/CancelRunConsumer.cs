// CancelRun: see RunCancellation (the run ends cancelled; a running training job stops at its next lease renewal).
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Training;

public sealed class CancelRunConsumer(RunLedger ledger) : IConsumer<CancelRun>
{
    public Task Consume(ConsumeContext<CancelRun> context) =>
        RunCancellation.CancelAsync(ledger.Registry, context.Message.RunId, context.Message.Reason,
            context.CancellationToken);
}
