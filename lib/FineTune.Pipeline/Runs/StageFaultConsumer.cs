// After a stage's retries are exhausted MassTransit moves the message to the endpoint's _error queue and publishes
// Fault<T>; this records it where a person reads it — the stage and run fail with the error — and publishes
// StageFailed.
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Runs;

public sealed class StageFaultConsumer<T>(RunLedger ledger) : IConsumer<Fault<T>> where T : class
{
    public async Task Consume(ConsumeContext<Fault<T>> context)
    {
        var (runId, project, stage) = context.Message.Message switch
        {
            DatasetArrived m => (m.RunId, m.Project, Stages.Ingestion),
            DatasetCleaned m => (m.RunId, m.Project, Stages.Tokenization),
            DatasetTokenized m => (m.RunId, m.Project, Stages.Training),
            TrainingRequested m => (m.RunId, m.Project, Stages.Training),
            ModelTrained m => (m.RunId, m.Project, Stages.Evaluation),
            EvaluationCompleted m => (m.RunId, m.Project, Stages.Deployment),
            _ => (Guid.Empty, "", ""),
        };
        if (runId == Guid.Empty)
            return;
        var error = context.Message.Exceptions.FirstOrDefault();
        await ledger.FailAsync(context, runId, project, stage, error?.ExceptionType ?? "UnknownError",
            error?.Message ?? "unknown error",
            context.GetRetryAttempt() + 1, context.CancellationToken);
    }
}
