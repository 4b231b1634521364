// The single-process pipeline: every stage's consumer over MassTransit's in-memory transport, a local artifact folder
// and SQLite under one home directory (default .finetune/). `finetune run` and the harness tests use it; the services
// run the same consumers over RabbitMQ, S3 and PostgreSQL.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline;

public sealed class LocalPipeline : IAsyncDisposable
{
    readonly IHost _host;

    LocalPipeline(IHost host) => _host = host;

    public IServiceProvider Services => _host.Services;
    public RunRegistry Registry => _host.Services.GetRequiredService<RunRegistry>();
    public IArtifactStore Store => _host.Services.GetRequiredService<IArtifactStore>();
    public RunInputs Inputs => _host.Services.GetRequiredService<RunInputs>();

    /// <summary>Starts the stages (all five unless <paramref name="stages"/> says otherwise). <paramref
    /// name="settings"/>
    /// overrides any configuration key ("Pipeline:Threads" = "2").</summary>
    public static async Task<LocalPipeline> StartAsync(string home, IDictionary<string, string?>? settings = null,
        Action<PipelineBuilder>? stages = null, Action<ILoggingBuilder>? logging = null, CancellationToken ct = default)
    {
        home = Path.GetFullPath(home);
        var values = new Dictionary<string, string?>
        {
            ["Pipeline:WorkDirectory"] = Path.Combine(home, "work"),
            ["Pipeline:WatchIngestionBucket"] = "false",
            // no broker cancels a long delivery in one process
            ["Pipeline:StageTimeoutMinutes"] = (24 * 60).ToString(),
            ["Artifacts:LocalDirectory"] = Path.Combine(home, "artifacts"),
            ["Registry:Provider"] = "sqlite",
            ["Registry:ConnectionString"] = $"Data Source={Path.Combine(home, "registry.db")}",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
            values[k] = v;
        Directory.CreateDirectory(home);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(values);
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.Services.AddPipeline(builder.Configuration, stages ?? (p => p.AddAllStages()));
        var host = builder.Build();
        await host.StartAsync(ct);
        return new LocalPipeline(host);
    }

    /// <summary>Drops <paramref name="file"/> into ingestion/{project}/ and announces it (the bucket watcher's job in
    /// the services). Returns the run id; the same file dropped again returns the run it started, and is refused
    /// (ArgumentException) when it names another base model or other settings than that run took.</summary>
    public async Task<Guid> SubmitAsync(string file, string project, string? baseModelDirectory,
        PipelineSettings? settings, CancellationToken ct)
    {
        if (!File.Exists(file))
            throw new FileNotFoundException($"dataset file not found: '{file}'.", file);
        ResourceNames.Validate(project, "project");
        var source = await Store.PutFileAsync(Buckets.Ingestion, $"{project}/{Path.GetFileName(file)}", file, ct);
        var info = await Store.StatAsync(source.Bucket, source.Key,
            ct) ?? throw new ArtifactNotFoundException(source.Bucket, source.Key);
        var settingsRef = settings is null ? await Inputs.DefaultSettingsAsync(ct)
            : await Inputs.PublishSettingsAsync(settings, ct);
        var baseModel = baseModelDirectory is null ? await Inputs.DefaultBaseModelAsync(ct)
            : await Inputs.PublishModelAsync(baseModelDirectory, ct);
        RawObjectClaim claim = null!;
        await Registry.WriteAsync(async s =>
        {
            bool retrain = (await s.ListDatasetsAsync(project, ct)).Count > 0;
            claim = await s.ClaimRawObjectAsync(project, source, info.ETag, Guid.NewGuid(),
                retrain ? "retrain" : "drop", ct);
        }, ct);
        var run = await Registry.ReadAsync(s => s.GetRunAsync(claim.RunId, ct), ct);
        var outputs = await Registry.ReadAsync(s => StageOutput.ReadAllAsync(s, claim.RunId, ct), ct);
        if (run is not null && outputs.TryGetValue(Stages.Ingestion, out var ingested)
            && ingested.Is<DatasetCleaned>())
            RefuseOtherInputs(file, run, ingested.As<DatasetCleaned>(), baseModel, settingsRef);
        if (run is null || RunStatus.IsTerminal(run.Status))
            return claim.RunId;
        // New, or interrupted (this process's in-memory queues died with the last one): announce the input of the
        // first stage that has not completed; the completed ones are not redone.
        var bus = _host.Services.GetRequiredService<IBus>();
        if (outputs.TryGetValue(Stages.Evaluation, out var evaluated))
            await bus.PublishForRun(evaluated.As<EvaluationCompleted>(), claim.RunId, ct);
        else if (outputs.TryGetValue(Stages.Training, out var trained))
            await bus.PublishForRun(trained.As<ModelTrained>(), claim.RunId, ct);
        else if (outputs.TryGetValue(Stages.Tokenization, out var tokenized))
            await bus.PublishForRun(tokenized.As<DatasetTokenized>(), claim.RunId, ct);
        else if (outputs.TryGetValue(Stages.Ingestion, out var cleaned) && cleaned.Is<DatasetCleaned>())
            await bus.PublishForRun(cleaned.As<DatasetCleaned>(), claim.RunId, ct);
        else
            await bus.PublishForRun(new DatasetArrived
            {
                RunId = claim.RunId, Project = project, Source = source, ETag = info.ETag, Trigger = run.Trigger,
                DetectedAt = DateTimeOffset.UtcNow, BaseModel = baseModel, Settings = settingsRef,
            }, claim.RunId, ct);
        return claim.RunId;
    }

    // A file already taken by a run is that run's (its claim is per object and ETag): a submission naming another
    // base model or other settings would otherwise get the earlier run back, trained on the earlier ones, silently.
    static void RefuseOtherInputs(string file, RunRecord run, DatasetCleaned ran, ArtifactRef baseModel,
        ArtifactRef settings)
    {
        string? changed = !SameObject(ran.BaseModel, baseModel)
            ? $"base model {Name(ran.BaseModel)}, not {Name(baseModel)}"
            : !SameObject(ran.Settings, settings) ? $"settings {Name(ran.Settings)}, not {Name(settings)}" : null;
        if (changed is not null)
            throw new ArgumentException($"'{file}' already ran in project '{run.Project}' (run {run.RunId}, " +
                $"{run.Status}) with {changed}: the same file runs once in a project. To train on it with these " +
                "inputs, give it another project (finetune run --project) or another home (--home).");
    }

    static bool SameObject(ArtifactRef a, ArtifactRef b) => a.Bucket == b.Bucket && a.Key == b.Key;

    static string Name(ArtifactRef a) => $"{a.Bucket}/{a.Key}";

    /// <summary>Waits until the run ends, calling <paramref name="onChange"/> with its stages and new events as they
    /// come.</summary>
    public async Task<RunRecord> WaitAsync(Guid runId, Action<RunRecord, IReadOnlyList<StageRecord>,
        IReadOnlyList<RunEventRecord>>? onChange,
        TimeSpan poll, CancellationToken ct)
    {
        long seq = 0;
        while (true)
        {
            var (run, stages, events) = await Registry.ReadAsync(async s =>
                (await s.GetRunAsync(runId, ct), await s.ListStagesAsync(runId, ct),
                    await s.ListEventsAsync(runId, seq, 1000, ct)), ct);
            if (run is null)
                throw new InvalidOperationException($"run {runId} is not in the registry.");
            if (events.Count > 0)
                seq = events[^1].Seq;
            onChange?.Invoke(run, stages, events);
            if (RunStatus.IsTerminal(run.Status))
                return run;
            await Task.Delay(poll, ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync(CancellationToken.None);
        _host.Dispose();
    }
}
