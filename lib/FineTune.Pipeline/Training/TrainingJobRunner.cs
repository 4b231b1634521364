// One training job, start to end: inputs downloaded and verified, the last checkpoint restored (from this host's
// scratch space or the checkpoints bucket), the training engine run with its progress streamed to the run's events and
// TrainingProgressed, each new checkpoint uploaded, and the result registered as the project's next model version.
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Training;
using MassTransit;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Training;

public sealed class TrainingJobRunner(IArtifactStore store, RunInputs inputs, RunLedger ledger,
    IPublishEndpoint publish,
    IOptions<PipelineOptions> options, System.Diagnostics.Metrics.IMeterFactory meters, ILogger<TrainingJobRunner> log)
{
    public async Task RunAsync(TrainingRequested job, CancellationToken ct)
    {
        if (await ledger.CompletedAsync(job.RunId, Stages.Training, ct) is { } done)
        {
            // Trained and registered before a crash cut the publish short: announce it again, do not train again.
            await publish.PublishForRun(done.As<ModelTrained>(), job.RunId, ct);
            return;
        }
        if (!await ledger.StartAsync(job.RunId, Stages.Training, RunStatus.Running, ct))
            throw new OperationCanceledException("run ended");

        var work = inputs.StageDirectory(job.RunId, Stages.Training, clean: false);
        var shards = Path.Combine(await inputs.BundleAsync(job.Shards, ct),
            Tokenization.TokenizationStage.ShardsFolder);
        var baseModel = await inputs.BundleAsync(job.BaseModel, ct);
        if (job.InitialAdapter is { } adapter)
            baseModel = ProductionStart.Merge(baseModel, await inputs.BundleAsync(adapter, ct),
                Path.Combine(work, "start"));
        var output = Path.Combine(work, "output");
        await RestoreCheckpointAsync(job.RunId, output, ct);

        var configPath = Path.Combine(work, "training_config.json");
        await store.GetFileAsync(job.Config, configPath, ct);
        // The run's training section (checked when the settings loaded), completed with what only this worker knows.
        var section = JsonNode.Parse(await File.ReadAllTextAsync(configPath, ct))!.AsObject();
        var checkedSection = TrainingConfigLoader.ParseSection(section, $"{job.Config.Bucket}/{job.Config.Key}",
            "training.");
        var config = checkedSection with
        {
            BaseModel = baseModel,
            OutputDir = output,
            Data = checkedSection.Data with { Path = shards },
            Training = options.Value.Threads > 0 ? checkedSection.Training with { Threads = options.Value.Threads }
                : checkedSection.Training,
        };

        using var trainer = Trainer.Create(config, job.RunId.ToString(), meters);
        var events = Channel.CreateUnbounded<TrainingProgress>(new UnboundedChannelOptions { SingleReader = true });
        var pump = PumpAsync(job, output, events.Reader, ct);
        TrainingReport report;
        try
        {
            report = await Task.Run(() => trainer.Train(new ChannelProgress(events.Writer), ct),
                CancellationToken.None);
        }
        finally
        {
            events.Writer.TryComplete();
            await pump;
        }
        ct.ThrowIfCancellationRequested();

        var kind = Directory.Exists(Path.Combine(output, "adapter")) ? "adapter" : "model";
        var prefix = $"{job.Project}/{job.RunId:N}";
        var model = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, $"{prefix}/{kind}",
            Path.Combine(output, kind), ct);
        var reportRef = await store.PutFileAsync(Buckets.Models, $"{prefix}/{TrainingReport.FileName}",
            Path.Combine(output, TrainingReport.FileName), ct);
        var startModel = job.InitialAdapter is null ? job.BaseModel : await inputs.PublishModelAsync(baseModel, ct);

        int version = 0;
        await ledger.Registry.WriteAsync(async s => version = await s.CreateModelVersionAsync(job.Project, job.RunId,
            model, startModel, kind, ct), ct);
        var trained = new ModelTrained
        {
            RunId = job.RunId, Project = job.Project, ModelVersion = version, Model = model, Report = reportRef,
            BaseModel = startModel, Prepared = job.Prepared, Kind = kind, Settings = job.Settings,
        };
        await ledger.CompleteAsync(job.RunId, Stages.Training, nameof(TrainingJobRunner), job.RunId, trained, async s =>
        {
            await s.RecordArtifactAsync(job.RunId, kind, model, ct);
            await s.RecordArtifactAsync(job.RunId, "training_report", reportRef, ct);
            await s.AddLineageAsync(job.RunId, job.Shards, model, "trained", ct);
            await s.AddLineageAsync(job.RunId, startModel, model, "base", ct);
        }, $"model version {version} trained: {report.Steps} steps, stop reason {report.StopReason}, best valid " +
            $"loss {report.BestValidLoss:0.0000}", ct);
        await publish.PublishForRun(trained, job.RunId, ct);
    }

    async Task RestoreCheckpointAsync(Guid runId, string output, CancellationToken ct)
    {
        // this host's own copy, from before its restart
        if (TrainingCheckpoints.List(output).Count > 0)
            return;
        var latest = (await ledger.Registry.ReadAsync(s => s.ListCheckpointsAsync(runId, ct), ct)).MaxBy(c => c.Step);
        if (latest is null)
            return;
        await ArtifactBundle.GetDirectoryAsync(store, latest.Artifact, TrainingCheckpoints.PathOf(output, latest.Step),
            ct);
        await ledger.EventAsync(runId, "info", $"resuming from checkpoint {latest.Step} (checkpoints bucket)", ct: ct);
    }

    // Drains the engine's progress on the host side: events and TrainingProgressed per logged step, checkpoints
    // uploaded as they appear. Runs beside the training thread, so a slow store never stalls a step.
    async Task PumpAsync(TrainingRequested job, string output, ChannelReader<TrainingProgress> reader,
        CancellationToken ct)
    {
        var uploaded = new HashSet<int>((await ledger.Registry.ReadAsync(s => s.ListCheckpointsAsync(job.RunId, ct),
            ct)).Select(c => c.Step));
        double? lastValid = null;

        try
        {
            await foreach (var p in reader.ReadAllAsync(CancellationToken.None))
            {
                if (p.Message is { } text)
                    await ledger.EventAsync(job.RunId, "info", text, ct: CancellationToken.None);
                if (p.Eval is { } eval)
                    lastValid = eval.ValidLoss;
                if (p.Metrics is not { } metrics && p.Eval is null)
                    continue;
                var data = new Dictionary<string, object?>
                {
                    ["step"] = p.Step, ["total_steps"] = p.TotalSteps, ["train_loss"] = p.Metrics?.TrainLoss,
                    ["valid_loss"] = lastValid,
                    ["full_valid_loss"] = p.Eval?.ValidLoss, ["train_mean_token_accuracy"] = p.Metrics?.TokenAccuracy,
                    ["valid_mean_token_accuracy"] = p.Eval?.TokenAccuracy,
                    ["tokens_per_second"] = p.Metrics?.TokensPerSecond,
                    ["learning_rate"] = p.Metrics?.LearningRate,
                };
                var line = p.Eval is { } e ? $"step {p.Step}: validation loss {e.ValidLoss:0.0000} ({e.Seconds:0.0} s)"
                    : $"step {p.Step}/{p.TotalSteps}: train loss {p.Metrics!.TrainLoss:0.0000}, " +
                        $"{p.Metrics.TokensPerSecond:N0} tokens/s" +
                      (p.Remaining is { } left ? $", ETA {TrainingProgress.Format(left)}" : "");
                await ledger.EventAsync(job.RunId, "info", line, JsonSerializer.Serialize(data), "metrics",
                    CancellationToken.None);
                // The answers to a few fixed validation prompts, so a person sees them improve (eval.sample_prompts).
                foreach (var sample in p.Eval?.Samples ?? [])
                    await ledger.EventAsync(job.RunId, "info", $"step {p.Step} sample {sample.Example}: " +
                        Shorten(sample.Answer), JsonSerializer.Serialize(new
                        {
                            step = p.Step, example = sample.Example, prompt = sample.Prompt,
                            reference = sample.Reference, answer = sample.Answer,
                        }), "sample", CancellationToken.None);
                if (p.Metrics is { } s)
                    await publish.PublishForRun(new TrainingProgressed
                    {
                        RunId = job.RunId, Step = p.Step, TotalSteps = p.TotalSteps, TrainLoss = s.TrainLoss,
                        ValidLoss = lastValid,
                        MeanTokenAccuracy = s.TokenAccuracy, TokensPerSecond = s.TokensPerSecond,
                        LearningRate = s.LearningRate,
                    }, job.RunId, CancellationToken.None,
                        p.Step.ToString(System.Globalization.CultureInfo.InvariantCulture));
                foreach (var (step, path) in TrainingCheckpoints.List(output).Where(c => !uploaded.Contains(c.Step)))
                    if (await UploadCheckpointAsync(job, step, path, data))
                        uploaded.Add(step);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning(e, "Run {RunId}: progress reporting failed; training goes on", job.RunId);
        }
    }

    async Task<bool> UploadCheckpointAsync(TrainingRequested job, int step, string path,
        Dictionary<string, object?> metrics)
    {
        try
        {
            var artifact = await ArtifactBundle.PutDirectoryAsync(store, Buckets.Checkpoints,
                $"{job.Project}/{job.RunId:N}/checkpoint-{step:D6}", path);
            await ledger.Registry.WriteAsync(s => s.RecordCheckpointAsync(job.RunId, step, artifact,
                JsonSerializer.Serialize(metrics)));
            return true;
        }
        catch (IOException)
        {
            return false;   // rotated away (or still being renamed) while uploading; the next one will come
        }
    }

    sealed class ChannelProgress(ChannelWriter<TrainingProgress> writer) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => writer.TryWrite(value);
    }

    /// <summary>An answer on one event line: newlines shown as ⏎, at most 160 characters.</summary>
    static string Shorten(string text)
    {
        var line = text.ReplaceLineEndings("⏎");
        return line.Length <= 160 ? line : line[..159] + "…";
    }
}
