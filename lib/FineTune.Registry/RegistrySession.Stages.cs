// RegistrySession: stage executions (attempts count redeliveries and retries), artifacts, lineage edges and datasets.
using FineTune.Contracts;

namespace FineTune.Registry;

internal sealed partial class RegistrySession
{
    // A succeeded stage is final (StageStatus): a redelivery that starts, completes or fails it again only counts the
    // attempt, so the output stored by the first completion is what every later delivery republishes.
    public Task StartStageAsync(Guid runId, string stage, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stage);
        return ExecAsync("""
            insert into stage_executions (run_id, stage, status, attempts, started_at) values (@runId, @stage, @running, 1, @now)
            on conflict (run_id, stage) do update set attempts = stage_executions.attempts + 1,
                status = case when stage_executions.status = @succeeded then stage_executions.status else excluded.status end,
                started_at = case when stage_executions.status = @succeeded then stage_executions.started_at else excluded.started_at end,
                finished_at = case when stage_executions.status = @succeeded then stage_executions.finished_at else null end,
                error = case when stage_executions.status = @succeeded then stage_executions.error else null end
            """,
            new
            {
                runId = Id(runId), stage, running = StageStatus.Running, succeeded = StageStatus.Succeeded,
                now = At(Now())
            },
            ct);
    }

    public Task CompleteStageAsync(Guid runId, string stage, string? outputJson = null,
        CancellationToken ct = default) =>
        EndStageAsync(runId, stage, StageStatus.Succeeded, error: null, outputJson, ct);

    public Task<string?> GetStageOutputAsync(Guid runId, string stage, CancellationToken ct = default) =>
        QueryOneAsync("select output_json from stage_executions where run_id = @runId and stage = @stage and status " +
            "= @succeeded",
            new { runId = Id(runId), stage, succeeded = StageStatus.Succeeded }, r => r.TextOrNull("output_json"), ct);

    public Task FailStageAsync(Guid runId, string stage, string error, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(error);
        return EndStageAsync(runId, stage, StageStatus.Failed, error, outputJson: null, ct);
    }

    // Also records a stage that ends without a recorded start (one attempt, started when it ended).
    Task EndStageAsync(Guid runId, string stage, string status, string? error, string? outputJson, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(stage);
        return ExecAsync("""
            insert into stage_executions (run_id, stage, status, attempts, started_at, finished_at, error, output_json)
            values (@runId, @stage, @status, 1, @now, @now, @error, @outputJson)
            on conflict (run_id, stage) do update set status = excluded.status, finished_at = excluded.finished_at,
                error = excluded.error, output_json = excluded.output_json
            where stage_executions.status <> @succeeded
            """,
            new
            {
                runId = Id(runId), stage, status, error, outputJson, succeeded = StageStatus.Succeeded,
                now = At(Now())
            },
            ct);
    }

    public Task<IReadOnlyList<StageRecord>> ListStagesAsync(Guid runId, CancellationToken ct = default) =>
        QueryAsync("select * from stage_executions where run_id = @runId order by started_at, stage",
            new { runId = Id(runId) },
            r => new StageRecord(r.Id("run_id"), r.Text("stage"), r.Text("status"), r.Int("attempts"),
                r.Time("started_at"),
                r.TimeOrNull("finished_at"), r.TextOrNull("error")), ct);

    // ---- Artifacts, datasets, lineage ----

    public Task RecordArtifactAsync(Guid runId, string kind, ArtifactRef artifact, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        ArgumentNullException.ThrowIfNull(artifact);
        return ExecAsync("""
            insert into artifacts (run_id, kind, bucket, key, sha256, bytes, created_at)
            values (@runId, @kind, @bucket, @key, @sha256, @bytes, @now)
            on conflict do nothing
            """, new
        {
            runId = Id(runId), kind, bucket = artifact.Bucket, key = artifact.Key, sha256 = artifact.Sha256,
            bytes = artifact.Bytes, now = At(Now())
        }, ct);
    }

    public Task<IReadOnlyList<ArtifactRecord>> ListArtifactsAsync(Guid runId, CancellationToken ct = default) =>
        QueryAsync("select * from artifacts where run_id = @runId order by created_at, kind, bucket, key",
            new { runId = Id(runId) },
            r => new ArtifactRecord(r.Id("run_id"), r.Text("kind"), r.Ref(), r.Time("created_at")), ct);

    public Task AddLineageAsync(Guid runId, ArtifactRef from, ArtifactRef to, string relation,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        ArgumentException.ThrowIfNullOrWhiteSpace(relation);
        return ExecAsync("""
            insert into lineage (run_id, from_bucket, from_key, from_sha256, from_bytes, to_bucket, to_key, to_sha256, to_bytes,
                relation, created_at)
            values (@runId, @fromBucket, @fromKey, @fromSha256, @fromBytes, @toBucket, @toKey, @toSha256, @toBytes, @relation, @now)
            on conflict do nothing
            """, new
        {
            runId = Id(runId), fromBucket = from.Bucket, fromKey = from.Key, fromSha256 = from.Sha256,
            fromBytes = from.Bytes,
            toBucket = to.Bucket, toKey = to.Key, toSha256 = to.Sha256, toBytes = to.Bytes, relation,
            now = At(Now()),
        }, ct);
    }

    public Task<IReadOnlyList<LineageEdge>> ListLineageAsync(Guid runId, CancellationToken ct = default) =>
        QueryAsync("select * from lineage where run_id = @runId order by id", new { runId = Id(runId) },
            r => new LineageEdge(r.Id("run_id"), r.Ref("from_"), r.Ref("to_"), r.Text("relation"),
                r.Time("created_at")), ct);

    public Task RecordDatasetAsync(DatasetRecord dataset, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        ArgumentException.ThrowIfNullOrWhiteSpace(dataset.Project);
        ArgumentOutOfRangeException.ThrowIfNegative(dataset.Examples);
        ArgumentOutOfRangeException.ThrowIfNegative(dataset.Rejected);
        var (prepared, card) = (dataset.Prepared, dataset.DataCard);
        return ExecAsync("""
            insert into datasets (run_id, project, prepared_bucket, prepared_key, prepared_sha256, prepared_bytes,
                data_card_bucket, data_card_key, data_card_sha256, data_card_bytes, examples, rejected, created_at)
            values (@runId, @project, @preparedBucket, @preparedKey, @preparedSha256, @preparedBytes,
                @cardBucket, @cardKey, @cardSha256, @cardBytes, @examples, @rejected, @createdAt)
            on conflict do nothing
            """, new
        {
            runId = Id(dataset.RunId), project = dataset.Project,
            preparedBucket = prepared.Bucket, preparedKey = prepared.Key, preparedSha256 = prepared.Sha256,
            preparedBytes = prepared.Bytes,
            cardBucket = card.Bucket, cardKey = card.Key, cardSha256 = card.Sha256, cardBytes = card.Bytes,
            examples = dataset.Examples, rejected = dataset.Rejected, createdAt = At(OrNow(dataset.CreatedAt)),
        }, ct);
    }

    public Task<IReadOnlyList<DatasetRecord>> ListDatasetsAsync(string project, CancellationToken ct = default) =>
        QueryAsync("select * from datasets where project = @project order by created_at, run_id", new { project },
            r => new DatasetRecord(r.Id("run_id"), r.Text("project"), r.Ref("prepared_"), r.Ref("data_card_"),
                r.Long("examples"),
                r.Long("rejected"), r.Time("created_at")), ct);

    DateTimeOffset OrNow(DateTimeOffset time) =>
        time == default ? Now() : new DateTimeOffset(time.UtcTicks - time.UtcTicks % 10, TimeSpan.Zero);
}
