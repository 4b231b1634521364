// RegistrySession: the training job queue (one job per run; workers compete with leases), run events and checkpoints.
using FineTune.Contracts;

namespace FineTune.Registry;

internal sealed partial class RegistrySession
{
    const string JobQueued = "queued", JobRunning = "running", JobCancelled = "cancelled";
    static readonly string[] JobEndings = ["succeeded", "failed", "cancelled"];
    static readonly string[] EventLevels = ["info", "warn", "error"];
    static readonly string[] EventTypes = ["message", "metrics", "progress", "sample"];

    public async Task<bool> EnqueueTrainingJobAsync(Guid runId, string requestJson, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(requestJson);
        var now = At(Now());
        return await ExecAsync("""
            insert into training_jobs (run_id, status, request_json, attempts, created_at, updated_at)
            values (@runId, @queued, @requestJson, 0, @now, @now)
            on conflict do nothing
            """, new { runId = Id(runId), queued = JobQueued, requestJson, now }, ct) == 1;
    }

    public Task<TrainingJobRecord?> ClaimTrainingJobAsync(string workerId, TimeSpan lease,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workerId);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        var now = Now();
        // The subquery picks the oldest claimable job (PostgreSQL: skipping rows another claimer has locked); the
        // repeated condition makes the update a no-op if someone claimed that job first, so each job goes to exactly
        // one worker.
        return QueryOneAsync($"""
            update training_jobs
            set status = @running, worker_id = @workerId, lease_until = @leaseUntil, attempts = attempts + 1, updated_at = @now
            where run_id = (
                    select run_id from training_jobs
                    where status = @queued or (status = @running and lease_until < @now)
                    order by created_at, run_id
                    limit 1{dialect.ForUpdateSkipLocked})
                and (status = @queued or (status = @running and lease_until < @now))
            returning *
            """,
            new { workerId, queued = JobQueued, running = JobRunning, now = At(now), leaseUntil = At(now + lease) },
                MapJob, ct);
    }

    public async Task<bool> RenewTrainingLeaseAsync(Guid runId, string workerId, TimeSpan lease,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workerId);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(lease, TimeSpan.Zero);
        var now = Now();
        return await ExecAsync("""
            update training_jobs set lease_until = @leaseUntil, updated_at = @now
            where run_id = @runId and worker_id = @workerId and status = @running
            """,
            new { runId = Id(runId), workerId, running = JobRunning, now = At(now), leaseUntil = At(now + lease) },
                ct) == 1;
    }

    public Task FinishTrainingJobAsync(Guid runId, string workerId, string status, string? error,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(workerId);
        if (!JobEndings.Contains(status))
            throw new ArgumentException($"Training job status '{status}' cannot end a job (expected one of " +
                $"{string.Join(", ", JobEndings)}).",
                nameof(status));
        return ExecAsync("""
            update training_jobs set status = @status, error = @error, lease_until = null, updated_at = @now
            where run_id = @runId and worker_id = @workerId and status = @running
            """, new { runId = Id(runId), workerId, status, error, running = JobRunning, now = At(Now()) }, ct);
    }

    public async Task<bool> CancelTrainingJobAsync(Guid runId, CancellationToken ct = default) =>
        await ExecAsync("""
            update training_jobs set status = @cancelled, updated_at = @now
            where run_id = @runId and status in (@queued, @running)
            """,
            new
            {
                runId = Id(runId), cancelled = JobCancelled, queued = JobQueued, running = JobRunning,
                now = At(Now())
            },
            ct) == 1;

    public Task<TrainingJobRecord?> GetTrainingJobAsync(Guid runId, CancellationToken ct = default) =>
        QueryOneAsync("select * from training_jobs where run_id = @runId", new { runId = Id(runId) }, MapJob, ct);

    static TrainingJobRecord MapJob(Row r) =>
        new(r.Id("run_id"), r.Text("status"), r.Text("request_json"), r.TextOrNull("worker_id"),
        r.TimeOrNull("lease_until"), r.Int("attempts"), r.TextOrNull("error"), r.Time("created_at"),
            r.Time("updated_at"));

    // ---- Events and checkpoints ----

    public Task AppendEventAsync(Guid runId, string level, string type, string message, string? dataJson = null,
        CancellationToken ct = default)
    {
        if (!EventLevels.Contains(level))
            throw new ArgumentException($"Event level '{level}' is not one of {string.Join(", ", EventLevels)}.",
                nameof(level));
        if (!EventTypes.Contains(type))
            throw new ArgumentException($"Event type '{type}' is not one of {string.Join(", ", EventTypes)}.",
                nameof(type));
        ArgumentNullException.ThrowIfNull(message);
        return ExecAsync("""
            insert into run_events (run_id, created_at, level, type, message, data_json)
            values (@runId, @now, @level, @type, @message, @dataJson)
            """, new { runId = Id(runId), now = At(Now()), level, type, message, dataJson }, ct);
    }

    public Task<IReadOnlyList<RunEventRecord>> ListEventsAsync(Guid runId, long afterSeq = 0, int limit = 1000,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(afterSeq);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return QueryAsync("select * from run_events where run_id = @runId and seq > @afterSeq order by seq limit " +
            "@limit",
            new { runId = Id(runId), afterSeq, limit },
            r => new RunEventRecord(r.Long("seq"), r.Id("run_id"), r.Time("created_at"), r.Text("level"),
                r.Text("type"),
                r.Text("message"), r.TextOrNull("data_json")), ct);
    }

    public Task RecordCheckpointAsync(Guid runId, int step, ArtifactRef artifact, string metricsJson,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        ArgumentNullException.ThrowIfNull(artifact);
        ArgumentException.ThrowIfNullOrWhiteSpace(metricsJson);
        return ExecAsync("""
            insert into checkpoints (run_id, step, bucket, key, sha256, bytes, metrics_json, created_at)
            values (@runId, @step, @bucket, @key, @sha256, @bytes, @metricsJson, @now)
            on conflict do nothing
            """, new
        {
            runId = Id(runId), step, bucket = artifact.Bucket, key = artifact.Key,
            sha256 = artifact.Sha256, bytes = artifact.Bytes, metricsJson, now = At(Now())
        }, ct);
    }

    public Task<IReadOnlyList<CheckpointRecord>> ListCheckpointsAsync(Guid runId, CancellationToken ct = default) =>
        QueryAsync("select * from checkpoints where run_id = @runId order by step", new { runId = Id(runId) },
            r => new CheckpointRecord(r.Id("run_id"), r.Int("step"), r.Ref(), r.Text("metrics_json"),
                r.Time("created_at")), ct);
}
