// Watches the ingestion bucket: a periodic reconciliation scan lists it and claims every object it has not seen
// (key + ETag, once), starting a run per new file. A bucket notification (BucketNotificationConsumer) only makes the
// next scan come at once; the scan runs always, so that nothing dropped while the service was down is missed. Keys are
// {project}/{file}; a project that already has a dataset gets trigger "retrain" (a feedback export: "feedback").
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Ingestion;

public sealed class BucketWatcher(IArtifactStore store, RunRegistry registry, IServiceScopeFactory scopes,
    IOptions<PipelineOptions> options,
    ILogger<BucketWatcher> log) : BackgroundService
{
    /// <summary>A claimed run whose ingestion has not started after this long has lost its message: announce it
    /// again.</summary>
    static readonly TimeSpan Unstarted = TimeSpan.FromSeconds(60);
    readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>Scan now instead of at the next interval (a bucket notification arrived).</summary>
    public void RequestScan()
    {
        // one pending wake-up is enough
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var every = TimeSpan.FromSeconds(options.Value.IngestionScanSeconds);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ScanAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Ingestion scan failed; retrying in {Seconds} s", every.TotalSeconds);
            }
            try
            {
                await _wake.WaitAsync(every, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Project under which objects with an invalid project prefix are recorded: '!' is in no valid
    /// name.</summary>
    public const string QuarantineProject = "!quarantine";

    /// <summary>One reconciliation pass; returns the runs it started or re-announced. One object that cannot be handled
    /// is logged and left behind; it never stops the scan for the others.</summary>
    public async Task<IReadOnlyList<Guid>> ScanAsync(CancellationToken ct)
    {
        var announced = new List<Guid>();
        using var scope = scopes.CreateScope();
        var publish = scope.ServiceProvider.GetRequiredService<IPublishEndpoint>();
        await foreach (var info in store.ListAsync(Buckets.Ingestion, "", ct))
        {
            try
            {
                if (await HandleAsync(info, publish, ct) is { } runId)
                    announced.Add(runId);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                log.LogWarning(e, "Ingestion: {Key} could not be handled; the scan goes on with the other objects",
                    ResourceNames.Shown(info.Key));
            }
        }
        return announced;
    }

    async Task<Guid?> HandleAsync(ArtifactInfo info, IPublishEndpoint publish, CancellationToken ct)
    {
        var slash = info.Key.IndexOf('/');
        if (slash <= 0 || slash == info.Key.Length - 1 || Path.GetFileName(info.Key).StartsWith('.'))
            return null;
        var project = info.Key[..slash];
        var stat = info.Sha256 is null ? await store.StatAsync(info.Bucket, info.Key, ct) : info;
        if (stat?.Sha256 is null)
        {
            log.LogWarning("Ingestion: {Key} has no sha256 metadata; upload it with finetune upload",
                ResourceNames.Shown(info.Key));
            return null;
        }
        var source = new ArtifactRef(info.Bucket, info.Key, stat.Sha256, stat.Bytes);
        if (ResourceNames.Problem(project) is { } problem)
        {
            await QuarantineAsync(source, stat.ETag, project, problem, ct);
            return null;
        }

        RawObjectClaim claim = null!;
        await registry.WriteAsync(async s =>
        {
            bool hasDataset = (await s.ListDatasetsAsync(project, ct)).Count > 0;
            // a file the feedback exporter wrote (its feedback rows name the key): the run says so, and its lineage
            // starts at the project's feedback
            bool feedback = Path.GetFileName(info.Key).StartsWith("feedback-", StringComparison.Ordinal)
                && (await s.ListFeedbackAsync(project, ct: ct)).Any(f => f.ExportKey == info.Key);
            claim = await s.ClaimRawObjectAsync(project, source, stat.ETag, Guid.NewGuid(),
                feedback ? "feedback" : hasDataset ? "retrain" : "drop", ct);
            if (feedback && claim.IsNew)
                await s.AddLineageAsync(claim.RunId, FeedbackRef(project), source, "exported feedback", ct);
        }, ct);
        var (run, started) = await registry.ReadAsync(async s =>
            (await s.GetRunAsync(claim.RunId, ct), (await s.ListStagesAsync(claim.RunId, ct)).Count > 0), ct);
        if (run is null)
            return null;
        bool lost = !claim.IsNew && !started && run.Status == RunStatus.ValidatingFiles
            && DateTimeOffset.UtcNow - run.CreatedAt > Unstarted;
        if (!claim.IsNew && !lost)
            return null;
        if (claim.IsNew)
            log.LogInformation("Run {RunId}: {Key} arrived for project {Project} ({Trigger})", claim.RunId, info.Key,
                project, run.Trigger);
        await publish.PublishForRun(new DatasetArrived
        {
            RunId = claim.RunId, Project = project, Source = source, ETag = stat.ETag, Trigger = run.Trigger,
            DetectedAt = DateTimeOffset.UtcNow,
        }, claim.RunId, ct);
        return claim.RunId;
    }

    // A drop under a prefix that is no valid project name: recorded once, as a failed run with the reason, so a person
    // sees it in `finetune runs` and the scan never trips over it again.
    async Task QuarantineAsync(ArtifactRef source, string etag, string project, string problem, CancellationToken ct)
    {
        await registry.WriteAsync(async s =>
        {
            var claim = await s.ClaimRawObjectAsync(QuarantineProject, source, etag, Guid.NewGuid(), "drop", ct);
            if (!claim.IsNew)
                return;
            await s.SetRunStatusAsync(claim.RunId, RunStatus.Failed,
                $"ingestion: the file's project prefix {ResourceNames.Shown(project)} is not a valid project name " +
                    $"({problem}); " +
                "upload it again under a valid one (finetune upload FILE --project NAME)", ct);
            log.LogWarning("Ingestion: {Key} quarantined as run {RunId}: {Problem}", ResourceNames.Shown(source.Key),
                claim.RunId, problem);
        }, ct);
    }

    /// <summary>A project's production feedback as a node of the lineage graph.</summary>
    public static ArtifactRef FeedbackRef(string project) => new("registry", $"feedback/{project}", "", 0);
}
