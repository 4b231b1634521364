// IRegistrySession over one connection and one transaction, with Dapper: the inbox, raw objects and runs here; stages,
// models, training jobs and events in the RegistrySession.*.cs parts. Every write is one insert … on conflict or one
// conditional update (never check-then-insert), so redelivered messages and concurrent workers are harmless.
using System.Data.Common;
using System.Text.Json;
using Dapper;
using FineTune.Contracts;

namespace FineTune.Registry;

internal sealed partial class RegistrySession(DbConnection connection, DbTransaction transaction, SqlDialect dialect,
    TimeProvider time)
    : IRegistrySession
{
    bool _committed;

    // Idempotent: code that commits inside ReadAsync/WriteAsync's callback is not failed by the helper's own commit.
    public async Task CommitAsync(CancellationToken ct = default)
    {
        if (_committed)
            return;
        await transaction.CommitAsync(ct);
        _committed = true;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_committed && connection.State == System.Data.ConnectionState.Open)
                await transaction.RollbackAsync(CancellationToken.None);
        }
        catch (DbException)
        {
            // The connection broke: the server has rolled the transaction back, and an exception from Dispose would
            // hide the one that brought the caller here.
        }
        finally
        {
            await transaction.DisposeAsync();
            await connection.DisposeAsync();
        }
    }

    // ---- Inbox ----

    public async Task<bool> TryMarkProcessedAsync(string consumer, Guid messageId, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(consumer);
        return await ExecAsync("""
            insert into processed_messages (consumer, message_id, processed_at) values (@consumer, @messageId, @now)
            on conflict do nothing
            """, new { consumer, messageId = Id(messageId), now = At(Now()) }, ct) == 1;
    }

    // ---- Raw objects and runs ----

    public async Task<RawObjectClaim> ClaimRawObjectAsync(string project, ArtifactRef source, string etag,
        Guid proposedRunId,
        string trigger, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentException.ThrowIfNullOrEmpty(etag);
        ArgumentException.ThrowIfNullOrWhiteSpace(trigger);
        var now = At(Now());
        var key = new { bucket = source.Bucket, key = source.Key, etag };
        // A concurrent claim of the same object waits here (PostgreSQL) or at BEGIN IMMEDIATE (SQLite), then inserts
        // nothing.
        var claimed = await QueryOneAsync("""
            insert into raw_objects (bucket, key, etag, project, sha256, bytes, run_id, seen_at)
            values (@bucket, @key, @etag, @project, @sha256, @bytes, @runId, @now)
            on conflict (bucket, key, etag) do nothing
            returning run_id
            """,
            new
            {
                key.bucket, key.key, etag, project, sha256 = source.Sha256, bytes = source.Bytes,
                runId = Id(proposedRunId),
                now,
            },
            r => (Guid?)r.Id("run_id"), ct);
        if (claimed is { } runId)
        {
            await ExecAsync("""
                insert into runs (run_id, project, status, triggered_by, source_bucket, source_key, reasons, created_at, updated_at)
                values (@runId, @project, @status, @trigger, @bucket, @key, '[]', @now, @now)
                """,
                new
                {
                    runId = Id(runId), project, status = RunStatus.ValidatingFiles, trigger, key.bucket, key.key,
                    now
                }, ct);
            return new RawObjectClaim(runId, IsNew: true);
        }
        var existing =
            await QueryOneAsync("select run_id from raw_objects where bucket = @bucket and key = @key and etag = @etag",
            key, r => (Guid?)r.Id("run_id"), ct);
        return new RawObjectClaim(existing ?? throw new InvalidOperationException(
            $"Raw object {source.Bucket}/{source.Key} (etag {etag}) conflicted on insert but is not in raw_objects " +
                $"(expected the winning claim's row)."),
            IsNew: false);
    }

    public Task<IReadOnlyList<RawObjectRecord>> ListRawObjectsAsync(string project, CancellationToken ct = default) =>
        QueryAsync("select * from raw_objects where project = @project order by seen_at, bucket, key, etag",
            new { project },
            r => new RawObjectRecord(r.Text("project"), r.Text("bucket"), r.Text("key"), r.Text("etag"),
                r.Text("sha256"),
                r.Long("bytes"), r.Id("run_id"), r.Time("seen_at")), ct);

    public Task<RunRecord?> GetRunAsync(Guid runId, CancellationToken ct = default) =>
        QueryOneAsync("select * from runs where run_id = @runId", new { runId = Id(runId) }, MapRun, ct);

    public Task<IReadOnlyList<RunRecord>> ListRunsAsync(string? project = null, int limit = 50,
        CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var where = project is null ? "" : "where project = @project";
        return QueryAsync($"select * from runs {where} order by created_at desc, run_id limit @limit",
            new { project, limit }, MapRun, ct);
    }

    public Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(int limit = 500, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        return QueryAsync("""
            select project, count(*) as runs,
                sum(case when status in (@succeeded, @failed, @cancelled) then 0 else 1 end) as active,
                max(created_at) as last_run_at
            from runs group by project order by max(created_at) desc, project limit @limit
            """, new
        {
            limit, succeeded = RunStatus.Succeeded, failed = RunStatus.Failed, cancelled = RunStatus.Cancelled,
        }, r => new ProjectRecord(r.Text("project"), r.Int("runs"), r.Int("active"), r.Time("last_run_at")), ct);
    }

    public async Task<bool> SetRunStatusAsync(Guid runId, string status, string? error = null,
        CancellationToken ct = default)
    {
        if (!RunStatus.All.Contains(status))
            throw new ArgumentException($"Run status '{status}' is not one of {string.Join(", ", RunStatus.All)}.",
                nameof(status));
        // The guard on the current status is what makes terminal statuses final, even under concurrent updates.
        return await ExecAsync("""
            update runs set status = @status, error = @error, updated_at = @now,
                finished_at = case when @terminal then @now else null end
            where run_id = @runId and status not in (@succeeded, @failed, @cancelled)
            """, new
        {
            runId = Id(runId), status, error, now = At(Now()), terminal = RunStatus.IsTerminal(status),
            succeeded = RunStatus.Succeeded, failed = RunStatus.Failed, cancelled = RunStatus.Cancelled,
        }, ct) == 1;
    }

    public async Task SetRunDecisionAsync(Guid runId, string decision, IReadOnlyList<string> reasons, int? modelVersion,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(decision);
        ArgumentNullException.ThrowIfNull(reasons);
        var updated = await ExecAsync("""
            update runs set decision = @decision, reasons = @reasons, model_version = @modelVersion, updated_at = @now
            where run_id = @runId
            """, new { runId = Id(runId), decision, reasons = Json(reasons), modelVersion, now = At(Now()) }, ct);
        if (updated == 0)
            throw new InvalidOperationException($"Run {runId} is not in the registry (expected a run created by " +
                $"ClaimRawObjectAsync).");
    }

    static RunRecord MapRun(Row r) => new(r.Id("run_id"), r.Text("project"), r.Text("status"), r.Text("triggered_by"),
        r.Text("source_bucket"), r.Text("source_key"), r.TextOrNull("error"), r.TextOrNull("decision"),
            r.Strings("reasons"),
        r.IntOrNull("model_version"), r.Time("created_at"), r.Time("updated_at"), r.TimeOrNull("finished_at"));

    // ---- Helpers ----

    // Microsecond precision: what timestamptz keeps, so a time reads back equal from either provider.
    DateTimeOffset Now()
    {
        var now = time.GetUtcNow();
        return new DateTimeOffset(now.UtcTicks - now.UtcTicks % 10, TimeSpan.Zero);
    }

    object At(DateTimeOffset t) => dialect.At(t);

    static string Id(Guid id) => id.ToString("D");

    static string Json(IReadOnlyList<string> strings) => JsonSerializer.Serialize(strings);

    CommandDefinition Command(string sql, object? args, CancellationToken ct) =>
        new(sql, args, transaction, cancellationToken: ct);

    Task<int> ExecAsync(string sql, object? args, CancellationToken ct) =>
        connection.ExecuteAsync(Command(sql, args, ct));

    async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, object? args, Func<Row, T> map, CancellationToken ct)
    {
        var rows = await connection.QueryAsync<object>(Command(sql, args, ct));
        return [.. rows.Select(row => map(Row.Of(row)))];
    }

    async Task<T?> QueryOneAsync<T>(string sql, object? args, Func<Row, T> map, CancellationToken ct)
    {
        var row = await connection.QueryFirstOrDefaultAsync<object>(Command(sql, args, ct));
        return row is null ? default : map(Row.Of(row));
    }
}
