// The training worker: claims one queued job at a time from the registry (several workers compete; a lease that is not
// renewed — the worker died — lets another take the job and resume it from its last checkpoint), renews the lease while
// the job runs, and stops the job when the run is cancelled.
using FineTune.Contracts;
using FineTune.Registry;
using FineTune.Training;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Training;

public sealed class TrainingWorker(IServiceScopeFactory scopes, RunRegistry registry, IOptions<PipelineOptions> options,
    ILogger<TrainingWorker> log) : BackgroundService
{
    public const int MaxAttempts = 3;
    readonly string _workerId = options.Value.WorkerId ?? $"{Environment.MachineName}-{Environment.ProcessId}";
    TimeSpan Lease => TimeSpan.FromSeconds(options.Value.TrainingLeaseSeconds);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        log.LogInformation("Training worker {WorkerId} polling for jobs", _workerId);
        while (!stoppingToken.IsCancellationRequested)
        {
            TrainingJobRecord? job;
            try
            {
                await using var s = await registry.BeginAsync(stoppingToken);
                job = await s.ClaimTrainingJobAsync(_workerId, Lease, stoppingToken);
                await s.CommitAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Training worker {WorkerId}: could not poll the registry", _workerId);
                job = null;
            }
            if (job is null)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(options.Value.TrainingPollSeconds), stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                continue;
            }
            await RunJobAsync(job, stoppingToken);
        }
    }

    async Task RunJobAsync(TrainingJobRecord job, CancellationToken stoppingToken)
    {
        TrainingJobRequest envelope;
        try
        {
            envelope = TrainingJobRequest.Parse(job.RequestJson);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidDataException)
        {
            log.LogError(e, "Run {RunId}: unreadable training job", job.RunId);
            await registry.WriteAsync(s => s.FinishTrainingJobAsync(job.RunId, _workerId, "failed",
                $"unreadable job: {e.Message}", CancellationToken.None));
            return;
        }
        var request = envelope.Message;
        using var activity = PipelineTelemetry.Source.StartActivity("training job",
            System.Diagnostics.ActivityKind.Consumer, envelope.TraceParent);
        activity?.SetTag("finetune.run_id", job.RunId.ToString());
        activity?.SetTag("finetune.attempt", job.Attempts);
        using var jobCts = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var renewal = RenewAsync(job.RunId, jobCts);
        using var scope = scopes.CreateScope();
        var ledger = scope.ServiceProvider.GetRequiredService<RunLedger>();
        using var _ = log.BeginScope(new Dictionary<string, object> { ["RunId"] = job.RunId });
        log.LogInformation("Run {RunId}: training attempt {Attempt} on {WorkerId}", job.RunId, job.Attempts, _workerId);
        try
        {
            await scope.ServiceProvider.GetRequiredService<TrainingJobRunner>().RunAsync(request, jobCts.Token);
            await registry.WriteAsync(s => s.FinishTrainingJobAsync(job.RunId, _workerId, "succeeded", null,
                CancellationToken.None));
            // The model, report and checkpoints are in the store. Only training's own directories: in one process the
            // evaluation of this run is already working beside them.
            var inputs = scope.ServiceProvider.GetRequiredService<RunInputs>();
            inputs.FreeStageDirectory(job.RunId, Stages.Training);
            inputs.FreeStageDirectory(job.RunId, "training-request");
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Host shutting down: keep the job; its lease runs out and a worker resumes it from the last checkpoint.
            log.LogInformation("Run {RunId}: worker stopping; the job will resume from its last checkpoint", job.RunId);
        }
        catch (OperationCanceledException)
        {
            await registry.WriteAsync(s => s.FinishTrainingJobAsync(job.RunId, _workerId, "cancelled", "cancelled",
                CancellationToken.None));
            scope.ServiceProvider.GetRequiredService<RunInputs>().FreeRunDirectory(job.RunId);
            await ledger.EventAsync(job.RunId, "warn",
                "training stopped: the run was cancelled; its scratch space is freed");
        }
        catch (Exception e) when (Runs.StageErrors.IsPermanent(e) || job.Attempts >= MaxAttempts)
        {
            log.LogError(e, "Run {RunId}: training failed for good", job.RunId);
            await registry.WriteAsync(s => s.FinishTrainingJobAsync(job.RunId, _workerId, "failed", e.Message,
                CancellationToken.None));
            await ledger.FailAsync(scope.ServiceProvider.GetRequiredService<IPublishEndpoint>(), job.RunId,
                request.Project, Stages.Training,
                e.GetType().FullName!, e.Message, job.Attempts, CancellationToken.None);
        }
        catch (Exception e)
        {
            // Transient: leave the job to its lease; it is retaken (attempts + 1) once the lease runs out.
            log.LogWarning(e, "Run {RunId}: training attempt {Attempt} failed; retrying after the lease", job.RunId,
                job.Attempts);
            await ledger.EventAsync(job.RunId, "warn",
                $"training attempt {job.Attempts} failed ({e.Message}); it will be retried");
        }
        finally
        {
            await jobCts.CancelAsync();
            await renewal;
        }
    }

    async Task RenewAsync(Guid runId, CancellationTokenSource job)
    {
        var every = Lease / 3;
        while (!job.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(every, job.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                bool held = false;
                await registry.WriteAsync(async s => held = await s.RenewTrainingLeaseAsync(runId, _workerId, Lease,
                    CancellationToken.None));
                if (!held)
                {
                    log.LogWarning("Run {RunId}: lease lost or run cancelled; stopping the job", runId);
                    await job.CancelAsync();
                    return;
                }
            }
            catch (Exception e)
            {
                log.LogWarning(e, "Run {RunId}: lease renewal failed; will retry", runId);
            }
        }
    }

}
