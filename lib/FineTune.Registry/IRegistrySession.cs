// The run registry's operations, all inside one database transaction: a consumer marks its message processed and
// records the stage's state change together, then commits (MassTransit has no Dapper outbox; this is ours).
// Usage: await using var s = await registry.BeginAsync(ct); if (!await s.TryMarkProcessedAsync(...)) return; ...; await
// s.CommitAsync(ct);
using FineTune.Contracts;

namespace FineTune.Registry;

public interface IRegistrySession : IAsyncDisposable
{
    Task CommitAsync(CancellationToken ct = default);

    // ---- Inbox ----
    /// <summary>Inserts (consumer, messageId); false when that consumer already processed the message (skip
    /// it).</summary>
    Task<bool> TryMarkProcessedAsync(string consumer, Guid messageId, CancellationToken ct = default);

    // ---- Raw objects and runs ----
    /// <summary>Records a dropped object once per (bucket, key, etag). New: creates run <paramref
    /// name="proposedRunId"/> (status validating_files) and returns it with IsNew; seen before: returns the run it
    /// started.</summary>
    Task<RawObjectClaim> ClaimRawObjectAsync(string project, ArtifactRef source, string etag, Guid proposedRunId,
        string trigger,
        CancellationToken ct = default);
    Task<IReadOnlyList<RawObjectRecord>> ListRawObjectsAsync(string project, CancellationToken ct = default);
    Task<RunRecord?> GetRunAsync(Guid runId, CancellationToken ct = default);
    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<RunRecord>> ListRunsAsync(string? project = null, int limit = 50,
        CancellationToken ct = default);
    /// <summary>Every project that has runs, with how many, how many are still going and when the newest started;
    /// most recently active first.</summary>
    Task<IReadOnlyList<ProjectRecord>> ListProjectsAsync(int limit = 500, CancellationToken ct = default);
    /// <summary>Sets status (and error); a terminal status sets finished_at. A terminal run never changes status again
    /// (returns false), so a late message cannot revive a cancelled or failed run.</summary>
    Task<bool> SetRunStatusAsync(Guid runId, string status, string? error = null, CancellationToken ct = default);
    Task SetRunDecisionAsync(Guid runId, string decision, IReadOnlyList<string> reasons, int? modelVersion,
        CancellationToken ct = default);

    // ---- Stage executions ----
    /// <summary>Marks the stage running; inserts it with attempts = 1 or increments attempts.</summary>
    Task StartStageAsync(Guid runId, string stage, CancellationToken ct = default);
    /// <summary>Marks the stage completed and stores <paramref name="outputJson"/> (the event it published), so that a
    /// redelivered message republishes that event instead of redoing the work.</summary>
    Task CompleteStageAsync(Guid runId, string stage, string? outputJson = null, CancellationToken ct = default);
    /// <summary>The output stored by CompleteStageAsync; null while the stage has not completed.</summary>
    Task<string?> GetStageOutputAsync(Guid runId, string stage, CancellationToken ct = default);
    Task FailStageAsync(Guid runId, string stage, string error, CancellationToken ct = default);
    Task<IReadOnlyList<StageRecord>> ListStagesAsync(Guid runId, CancellationToken ct = default);

    // ---- Artifacts, datasets, lineage ----
    /// <summary>Idempotent per (run, kind, bucket, key): the first record of an object wins.</summary>
    Task RecordArtifactAsync(Guid runId, string kind, ArtifactRef artifact, CancellationToken ct = default);
    /// <summary>The run's recorded artifacts, oldest first.</summary>
    Task<IReadOnlyList<ArtifactRecord>> ListArtifactsAsync(Guid runId, CancellationToken ct = default);
    /// <summary>One edge of the lineage graph (raw → cleaned → tokenized → trained → evaluated → deployed);
    /// idempotent.</summary>
    Task AddLineageAsync(Guid runId, ArtifactRef from, ArtifactRef to, string relation, CancellationToken ct = default);
    Task<IReadOnlyList<LineageEdge>> ListLineageAsync(Guid runId, CancellationToken ct = default);
    /// <summary>Idempotent per run. CreatedAt: the record's, or now when left default.</summary>
    Task RecordDatasetAsync(DatasetRecord dataset, CancellationToken ct = default);
    /// <summary>The project's cleaned datasets, oldest first.</summary>
    Task<IReadOnlyList<DatasetRecord>> ListDatasetsAsync(string project, CancellationToken ct = default);

    // ---- Model versions, evaluations, aliases ----
    /// <summary>Registers the run's model as the project's next version (1, 2, …); a second call for the same run
    /// returns the version the first one created (exactly one version per run).</summary>
    Task<int> CreateModelVersionAsync(string project, Guid runId, ArtifactRef model, ArtifactRef baseModel, string kind,
        CancellationToken ct = default);
    Task<ModelVersionRecord?> GetModelVersionAsync(string project, int version, CancellationToken ct = default);
    Task<IReadOnlyList<ModelVersionRecord>> ListModelVersionsAsync(string? project = null,
        CancellationToken ct = default);
    /// <summary>Idempotent per (project, version). CreatedAt: the record's, or now when left default.</summary>
    Task RecordEvaluationAsync(EvaluationRecord evaluation, CancellationToken ct = default);
    Task<EvaluationRecord?> GetEvaluationAsync(string project, int version, CancellationToken ct = default);
    /// <summary>Points alias at version and appends to the deployment history; returns the version it pointed at
    /// before.</summary>
    Task<int?> SetAliasAsync(string project, string alias, int version, Guid runId, string reason,
        CancellationToken ct = default);
    Task<int?> GetAliasAsync(string project, string alias, CancellationToken ct = default);
    Task<IReadOnlyList<AliasRecord>> ListAliasesAsync(string? project = null, CancellationToken ct = default);
    /// <summary>The deployment history of an alias, newest first.</summary>
    Task<IReadOnlyList<DeploymentRecord>> ListDeploymentsAsync(string project, string alias,
        CancellationToken ct = default);

    /// <summary>Deletes an alias (recorded in its history); returns the version it pointed at, null when
    /// none.</summary>
    Task<int?> RemoveAliasAsync(string project, string alias, Guid runId, string reason,
        CancellationToken ct = default);

    // ---- Progressive releases (canary, shadow) ----
    /// <summary>Records a running release; false when this version already has one.</summary>
    Task<bool> StartReleaseAsync(ReleaseRecord release, CancellationToken ct = default);
    Task<IReadOnlyList<ReleaseRecord>> ListReleasesAsync(string? project = null, bool runningOnly = false,
        CancellationToken ct = default);
    /// <summary>Ends a running release (promoted or rolled_back) with its reasons and numbers; false when it had
    /// ended already (another instance decided first).</summary>
    Task<bool> DecideReleaseAsync(string project, int version, string status, IReadOnlyList<string> reasons,
        string numbersJson, CancellationToken ct = default);

    // ---- Production feedback ----
    /// <summary>Idempotent per (id, choice).</summary>
    Task RecordServedRequestsAsync(IReadOnlyList<ServedRequestRecord> requests, CancellationToken ct = default);
    Task<ServedRequestRecord?> GetServedRequestAsync(string id, int choice, CancellationToken ct = default);
    Task<IReadOnlyList<ServedRequestRecord>> ListServedRequestsAsync(string project, CancellationToken ct = default);
    Task<long> AddFeedbackAsync(FeedbackRecord feedback, CancellationToken ct = default);
    Task<IReadOnlyList<FeedbackRecord>> ListFeedbackAsync(string project, bool unexportedOnly = false,
        CancellationToken ct = default);
    /// <summary>The ratings (0 to 1) of the newest <paramref name="limit"/> rated answers that
    /// <paramref name="version"/> of <paramref name="project"/> gave, newest first.</summary>
    Task<IReadOnlyList<double>> ListVersionRatingsAsync(string project, int version, int limit,
        CancellationToken ct = default);
    Task MarkFeedbackExportedAsync(IReadOnlyList<long> ids, string exportKey, CancellationToken ct = default);
    /// <summary>Projects that have received feedback.</summary>
    Task<IReadOnlyList<string>> ListFeedbackProjectsAsync(CancellationToken ct = default);
    /// <summary>Deletes the requests answered before <paramref name="before"/> and their feedback (retention).
    /// </summary>
    Task<int> DeleteServedRequestsBeforeAsync(DateTimeOffset before, CancellationToken ct = default);

    // ---- Training jobs (one per run; workers compete with leases) ----
    /// <summary>Queues the run's job; false when it is already queued (or ran).</summary>
    Task<bool> EnqueueTrainingJobAsync(Guid runId, string requestJson, CancellationToken ct = default);
    /// <summary>Takes the oldest queued job, or a running one whose lease expired (its worker died): status running,
    /// worker and lease set, attempts + 1. Null when there is none. Safe with many workers on PostgreSQL and
    /// SQLite.</summary>
    Task<TrainingJobRecord?> ClaimTrainingJobAsync(string workerId, TimeSpan lease, CancellationToken ct = default);
    /// <summary>Extends the lease; false when this worker no longer holds the job (lease lost, or cancelled).</summary>
    Task<bool> RenewTrainingLeaseAsync(Guid runId, string workerId, TimeSpan lease, CancellationToken ct = default);
    /// <summary>Ends the job (succeeded, failed, cancelled) if this worker holds it.</summary>
    Task FinishTrainingJobAsync(Guid runId, string workerId, string status, string? error,
        CancellationToken ct = default);
    /// <summary>Marks a queued or running job cancelled (the worker sees it at its next lease renewal).</summary>
    Task<bool> CancelTrainingJobAsync(Guid runId, CancellationToken ct = default);
    Task<TrainingJobRecord?> GetTrainingJobAsync(Guid runId, CancellationToken ct = default);

    // ---- Events and checkpoints (OpenAI's job events and checkpoints) ----
    Task AppendEventAsync(Guid runId, string level, string type, string message, string? dataJson = null,
        CancellationToken ct = default);
    /// <summary>Events with seq &gt; <paramref name="afterSeq"/>, oldest first.</summary>
    Task<IReadOnlyList<RunEventRecord>> ListEventsAsync(Guid runId, long afterSeq = 0, int limit = 1000,
        CancellationToken ct = default);
    /// <summary>Idempotent per (run, step).</summary>
    Task RecordCheckpointAsync(Guid runId, int step, ArtifactRef artifact, string metricsJson,
        CancellationToken ct = default);
    Task<IReadOnlyList<CheckpointRecord>> ListCheckpointsAsync(Guid runId, CancellationToken ct = default);
}
