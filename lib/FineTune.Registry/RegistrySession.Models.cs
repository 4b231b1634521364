// RegistrySession: model versions (1, 2, … per project, one per run), evaluations, aliases and their deployment
// history.
using FineTune.Contracts;

namespace FineTune.Registry;

internal sealed partial class RegistrySession
{
    // Concurrent registrations for one project race for the same max + 1 only on PostgreSQL (SQLite has one writer);
    // each lost race waits for the winner's commit, so a handful of retries covers many concurrent trainers.
    const int VersionAttempts = 20;

    public async Task<int> CreateModelVersionAsync(string project, Guid runId, ArtifactRef model,
        ArtifactRef baseModel, string kind,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(baseModel);
        ArgumentException.ThrowIfNullOrWhiteSpace(kind);
        var args = new
        {
            project, runId = Id(runId), kind, now = At(Now()),
            modelBucket = model.Bucket, modelKey = model.Key, modelSha256 = model.Sha256, modelBytes = model.Bytes,
            baseBucket = baseModel.Bucket, baseKey = baseModel.Key, baseSha256 = baseModel.Sha256,
            baseBytes = baseModel.Bytes,
        };
        for (var attempt = 1; attempt <= VersionAttempts; attempt++)
        {
            // No conflict target: a taken run_id (this run already has its version) and a taken (project, version)
            // (another run won max + 1) both insert nothing, without the error that would abort a PostgreSQL
            // transaction.
            var created = await QueryOneAsync("""
                insert into model_versions (project, version, run_id, model_bucket, model_key, model_sha256, model_bytes,
                    base_bucket, base_key, base_sha256, base_bytes, kind, created_at)
                select @project, coalesce(max(version), 0) + 1, @runId, @modelBucket, @modelKey, @modelSha256, @modelBytes,
                    @baseBucket, @baseKey, @baseSha256, @baseBytes, @kind, @now
                from model_versions where project = @project
                on conflict do nothing
                returning version
                """, args, r => (int?)r.Int("version"), ct);
            if (created is { } version)
                return version;
            var existing = await QueryOneAsync("select project, version from model_versions where run_id = @runId",
                args,
                r => ((string Project, int Version)?)(r.Text("project"), r.Int("version")), ct);
            if (existing is { } mine)
                return mine.Project == project ? mine.Version : throw new InvalidOperationException(
                    $"Run {runId} already registered version {mine.Version} of project '{mine.Project}' (expected " +
                        $"project '{project}').");
        }
        throw new InvalidOperationException(
            $"Could not allocate a model version for project '{project}' after {VersionAttempts} attempts (too many " +
                $"concurrent registrations?).");
    }

    public Task<ModelVersionRecord?> GetModelVersionAsync(string project, int version,
        CancellationToken ct = default) =>
        QueryOneAsync("select * from model_versions where project = @project and version = @version",
            new { project, version },
            MapModelVersion, ct);

    public Task<IReadOnlyList<ModelVersionRecord>> ListModelVersionsAsync(string? project = null,
        CancellationToken ct = default) =>
        QueryAsync($"select * from model_versions {(project is null ? "" : "where project = @project")} order by " +
            $"project, version",
            new { project }, MapModelVersion, ct);

    static ModelVersionRecord MapModelVersion(Row r) =>
        new(r.Text("project"), r.Int("version"), r.Id("run_id"), r.Ref("model_"),
        r.Ref("base_"), r.Text("kind"), r.Time("created_at"));

    public Task RecordEvaluationAsync(EvaluationRecord evaluation, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(evaluation);
        ArgumentException.ThrowIfNullOrWhiteSpace(evaluation.Project);
        var gate = evaluation.Gate;
        return ExecAsync("""
            insert into evaluations (project, version, run_id, baseline_version, promote, reasons, candidate_metrics, baseline_metrics,
                gate_bucket, gate_key, gate_sha256, gate_bytes, created_at)
            values (@project, @version, @runId, @baselineVersion, @promote, @reasons, @candidate, @baseline,
                @gateBucket, @gateKey, @gateSha256, @gateBytes, @createdAt)
            on conflict do nothing
            """, new
        {
            project = evaluation.Project, version = evaluation.Version, runId = Id(evaluation.RunId),
            baselineVersion = evaluation.BaselineVersion, promote = evaluation.Promote,
            reasons = Json(evaluation.Reasons), candidate = evaluation.CandidateMetricsJson,
            baseline = evaluation.BaselineMetricsJson,
            gateBucket = gate.Bucket, gateKey = gate.Key, gateSha256 = gate.Sha256, gateBytes = gate.Bytes,
            createdAt = At(OrNow(evaluation.CreatedAt)),
        }, ct);
    }

    public Task<EvaluationRecord?> GetEvaluationAsync(string project, int version, CancellationToken ct = default) =>
        QueryOneAsync("select * from evaluations where project = @project and version = @version",
            new { project, version },
            r => new EvaluationRecord(r.Text("project"), r.Int("version"), r.Id("run_id"),
                r.IntOrNull("baseline_version"),
                r.Bool("promote"), r.Strings("reasons"), r.Text("candidate_metrics"), r.Text("baseline_metrics"),
                    r.Ref("gate_"),
                r.Time("created_at")), ct);

    public async Task<int?> SetAliasAsync(string project, string alias, int version, Guid runId, string reason,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(project);
        ArgumentException.ThrowIfNullOrWhiteSpace(alias);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        var args = new { project, alias, version, runId = Id(runId), reason, now = At(Now()) };
        int? previous = null;
        var inserted = await ExecAsync("""
            insert into aliases (project, alias, version, updated_at) values (@project, @alias, @version, @now)
            on conflict (project, alias) do nothing
            """, args, ct) == 1;
        if (!inserted)
        {
            // Locking the row makes a concurrent deployment of the same alias wait, so each history row names the true
            // previous.
            previous = await QueryOneAsync($"select version from aliases where project = @project and alias = " +
                $"@alias{dialect.ForUpdate}",
                args, r => (int?)r.Int("version"), ct);
            await ExecAsync("update aliases set version = @version, updated_at = @now where project = @project and " +
                "alias = @alias", args, ct);
        }
        await ExecAsync("""
            insert into deployments (project, alias, version, previous_version, run_id, reason, created_at)
            values (@project, @alias, @version, @previous, @runId, @reason, @now)
            """, new { args.project, args.alias, args.version, previous, args.runId, args.reason, args.now }, ct);
        return previous;
    }

    public Task<int?> GetAliasAsync(string project, string alias, CancellationToken ct = default) =>
        QueryOneAsync("select version from aliases where project = @project and alias = @alias", new { project, alias },
            r => (int?)r.Int("version"), ct);

    public Task<IReadOnlyList<AliasRecord>> ListAliasesAsync(string? project = null, CancellationToken ct = default) =>
        QueryAsync($"select * from aliases {(project is null ? "" : "where project = @project")} order by project, " +
            $"alias",
            new { project }, r =>
                new AliasRecord(r.Text("project"), r.Text("alias"), r.Int("version"), r.Time("updated_at")), ct);

    public Task<IReadOnlyList<DeploymentRecord>> ListDeploymentsAsync(string project, string alias,
        CancellationToken ct = default) =>
        QueryAsync("select * from deployments where project = @project and alias = @alias order by id desc",
            new { project, alias },
            r => new DeploymentRecord(r.Long("id"), r.Text("project"), r.Text("alias"), r.Int("version"),
                r.IntOrNull("previous_version"),
                r.Id("run_id"), r.Text("reason"), r.Time("created_at")), ct);
}
