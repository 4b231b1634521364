// A long suite's progress as the run's events ("evaluation: candidate mmlu 120/200"): at the start, each tenth of the
// way and at the end, written in order in the background so scoring never waits on the registry (a failed write is
// logged and costs only that event); and as the items counter of the pipeline's meter.
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Evaluation;

public sealed class EvaluationProgress(RunLedger ledger, PipelineTelemetry telemetry, ILogger log, Guid runId,
    string role, string suite) : IProgress<Evals.EvalProgress>
{
    Task pending = Task.CompletedTask;
    int lastTenth = -1;
    int? lastDone;
    readonly Lock gate = new();

    public void Report(Evals.EvalProgress value)
    {
        int tenth = value.Total == 0 ? 10 : value.Done * 10 / value.Total;
        lock (gate)
        {
            // the first report counts what an earlier attempt scored: only what this one scores is counted
            if (lastDone is { } before && value.Done > before)
                telemetry.EvaluationItems(suite, role, value.Done - before);
            lastDone = value.Done;
            if (tenth == lastTenth)
                return;
            lastTenth = tenth;
            var text = $"evaluation: {role} {suite} {value.Done}/{value.Total}";
            var data = System.Text.Json.JsonSerializer.Serialize(new
            {
                role, suite, done = value.Done, total = value.Total
            });
            pending = pending.ContinueWith(async _ =>
            {
                try
                {
                    await ledger.EventAsync(runId, "info", text, data, "progress", CancellationToken.None);
                }
                catch (Exception e)
                {
                    log.LogWarning(e, "Run {RunId}: progress event not written", runId);
                }
            }, TaskScheduler.Default).Unwrap();
        }
    }

    /// <summary>Waits for the events written so far.</summary>
    public Task FlushAsync()
    {
        lock (gate)
            return pending;
    }
}
