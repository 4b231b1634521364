// Cancelling a run: status cancelled (final), its training job marked cancelled (a running worker stops at its next
// lease renewal and frees the run's scratch space), and an event saying so. Used by CancelRunConsumer and the CLI.
using FineTune.Contracts;
using FineTune.Registry;

namespace FineTune.Pipeline.Runs;

public static class RunCancellation
{
    /// <summary>False when the run had already ended (or does not exist).</summary>
    public static async Task<bool> CancelAsync(RunRegistry registry, Guid runId, string? reason, CancellationToken ct)
    {
        await using var s = await registry.BeginAsync(ct);
        if (!await s.SetRunStatusAsync(runId, RunStatus.Cancelled, reason ?? "cancelled by a user", ct))
            return false;
        await s.CancelTrainingJobAsync(runId, ct);
        await s.AppendEventAsync(runId, "warn", "message", "run cancelled" + (reason is null ? "" : $": {reason}"),
            null, ct);
        await s.CommitAsync(ct);
        return true;
    }
}
