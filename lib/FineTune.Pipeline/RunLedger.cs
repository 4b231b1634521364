// The registry calls every stage makes, in the order the delivery rules need: find an earlier completion, start an
// attempt, and complete — inbox row, state change, lineage and the output to publish in one transaction.
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline;

public sealed class RunLedger(RunRegistry registry, PipelineTelemetry telemetry, ILogger<RunLedger> log)
{
    readonly System.Diagnostics.Stopwatch _clock = new();
    public RunRegistry Registry => registry;

    /// <summary>The output of an earlier completion of this stage for this run; null when it has not
    /// completed.</summary>
    public async Task<StageOutput?> CompletedAsync(Guid runId, string stage, CancellationToken ct) =>
        await registry.ReadAsync(s => s.GetStageOutputAsync(runId, stage, ct),
            ct) is { } json ? StageOutput.Parse(json) : null;

    /// <summary>Starts an attempt; false when the run has already ended (cancelled or failed), so nothing should
    /// run.</summary>
    public async Task<bool> StartAsync(Guid runId, string stage, string? status, CancellationToken ct)
    {
        return await registry.ReadAsync(async s =>
        {
            var run = await s.GetRunAsync(runId, ct);
            if (run is null || RunStatus.IsTerminal(run.Status))
            {
                log.LogInformation("Run {RunId}: {Stage} skipped, the run is {Status}", runId, stage,
                    run?.Status ?? "unknown");
                return false;
            }
            await s.StartStageAsync(runId, stage, ct);
            if (status is not null)
                await s.SetRunStatusAsync(runId, status, null, ct);
            await s.AppendEventAsync(runId, "info", "message", $"{stage} started", null, ct);
            await s.CommitAsync(ct);
            _clock.Restart();
            return true;
        }, ct);
    }

    /// <summary>Records the stage's result and the output to publish; false when another delivery of the same message
    /// got there first (the caller republishes that one's output).</summary>
    public async Task<bool> CompleteAsync(Guid runId, string stage, string consumer, Guid messageId, object output,
        Func<IRegistrySession, Task>? records, string message, CancellationToken ct)
    {
        await using var s = await registry.BeginAsync(ct);
        if (!await s.TryMarkProcessedAsync(consumer, messageId, ct))
            return false;
        if (records is not null)
            await records(s);
        await s.CompleteStageAsync(runId, stage, StageOutput.Serialize(output), ct);
        await s.AppendEventAsync(runId, "info", "message", message, null, ct);
        var run = await s.GetRunAsync(runId, ct);   // did the records end the run?
        await s.CommitAsync(ct);
        telemetry.StageCompleted(stage, "succeeded", _clock.Elapsed);
        if (run is not null && RunStatus.IsTerminal(run.Status))
            telemetry.RunFinished(run.Status, run.Decision);
        log.LogInformation("Run {RunId}: {Stage} completed: {Message}", runId, stage, message);
        return true;
    }

    public Task EventAsync(Guid runId, string level, string message, string? dataJson = null, string type = "message",
        CancellationToken ct = default) =>
        registry.WriteAsync(s => s.AppendEventAsync(runId, level, type, message, dataJson, ct), ct);

    /// <summary>Ends the run as failed at <paramref name="stage"/>, with the reason a person reads
    /// ("ExceptionType: message"), and announces it as StageFailed. Once: a fault delivered again (or once per
    /// attempt, as the in-memory transport does after retries) finds the run failed and records nothing more.</summary>
    public async Task FailAsync(MassTransit.IPublishEndpoint publish, Guid runId, string project, string stage,
        string exceptionType,
        string message, int attempts, CancellationToken ct)
    {
        var error = $"{exceptionType.Split('.')[^1]}: {message}";
        bool recorded = false;
        await registry.WriteAsync(async s =>
        {
            if (await s.GetRunAsync(runId, ct) is { Status: RunStatus.Failed } run && run.Error == $"{stage}: {error}")
                return;
            recorded = true;
            await s.FailStageAsync(runId, stage, error, ct);
            await s.SetRunStatusAsync(runId, RunStatus.Failed, $"{stage}: {error}", ct);
            await s.AppendEventAsync(runId, "error", "message", $"{stage} failed: {error}", null, ct);
        }, ct);
        if (!recorded)
            return;
        telemetry.StageCompleted(stage, "failed", _clock.Elapsed);
        telemetry.RunFinished(RunStatus.Failed, null);
        log.LogError("Run {RunId}: {Stage} failed: {Error}", runId, stage, error);
        await publish.PublishForRun(new StageFailed
        {
            RunId = runId, Project = project, Stage = stage, Error = message, ExceptionType = exceptionType,
            Attempts = attempts,
        }, runId, ct);
    }
}
