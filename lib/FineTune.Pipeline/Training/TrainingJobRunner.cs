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
        var start = await inputs.BundleAsync(job.BaseModel, ct);
        if (job.InitialAdapter is { } adapter)
            start = ProductionStart.Merge(start, await inputs.BundleAsync(adapter, ct), Path.Combine(work, "start"));

        var configPath = Path.Combine(work, "training_config.json");
        await store.GetFileAsync(job.Config, configPath, ct);
        // The run's training section (checked when the settings loaded), one config per stage (training.stages).
        var section = JsonNode.Parse(await File.ReadAllTextAsync(configPath, ct))!.AsObject();
        var configs = TrainingStages.Check(section, $"{job.Config.Bucket}/{job.Config.Key}");
        var results = new TrainingStageResults(store, inputs, ledger, job);
        var finished = await results.ListAsync(ct);

        // Each stage starts from the one before, merged into its base; a stage finished before a restart is fetched,
        // not trained again, and its steps keep the run's step numbers (and checkpoints) increasing.
        int offset = 0;
        var earlier = new List<(ArtifactRef Model, string Relation)>();
        for (int i = 0; ; i++)
        {
            var stage = new StageInfo(i, configs.Count, ConfigNames.Of(configs[i].Objective), offset);
            var output = configs.Count == 1 ? Path.Combine(work, "output") : Path.Combine(work, $"stage-{i + 1}");
            bool last = i == configs.Count - 1;
            TrainingStageResults.Result result;
            if (!last && finished.TryGetValue(i, out var recorded))
                result = await results.FetchAsync(i, recorded, output, ct);
            else
            {
                await RestoreCheckpointAsync(job.RunId, output, offset, ct);
                if (configs.Count > 1)
                    await ledger.EventAsync(job.RunId, "info", $"{stage.Label}started", ct: ct);
                var config = configs[i] with
                {
                    BaseModel = start,
                    OutputDir = output,
                    Data = configs[i].Data with { Path = shards },
                    Training = options.Value.Threads > 0 ? configs[i].Training with { Threads = options.Value.Threads }
                        : configs[i].Training,
                };
                var report = await TrainStageAsync(job, config, output, stage, ct);
                if (last)
                {
                    await RegisterAsync(job, start, output, report, earlier, ct);
                    return;
                }
                result = await results.RecordAsync(i, output, report, ct);
                await ledger.EventAsync(job.RunId, "info", $"{stage.Label}done: {report.Steps} steps, stop reason " +
                    $"{report.StopReason}, best valid loss {report.BestValidLoss:0.0000}", ct: ct);
            }
            earlier.Add((result.Model, $"stage {i + 1} ({stage.Objective})"));
            offset += result.Steps;
            start = result.Kind == "adapter"
                ? ProductionStart.Merge(start, result.Directory, Path.Combine(work, $"stage-{i + 1}-merged"))
                : result.Directory;
        }
    }

    /// <summary>The run's step numbers within stage Index of Count (from Offset on), and how its lines begin.</summary>
    internal sealed record StageInfo(int Index, int Count, string Objective, int Offset)
    {
        public string Label => Count == 1 ? "" : $"stage {Index + 1}/{Count} ({Objective}): ";
    }

    /// <summary>A "metrics" event's data (what the console charts and `finetune events` shows): the step in the run's
    /// numbering, the losses and accuracies, learning rate and throughput; for preference recipes GRPO's and PPO's
    /// rollout reward and KL, DPO's implicit rewards of the chosen and rejected answers and their margin (at
    /// evaluations, the validation pairs' margin).</summary>
    internal static Dictionary<string, object?> MetricsData(TrainingProgress p, StageInfo stage, double? lastValid)
    {
        var data = new Dictionary<string, object?>
        {
            ["step"] = stage.Offset + p.Step, ["total_steps"] = stage.Offset + p.TotalSteps,
            ["train_loss"] = p.Metrics?.TrainLoss, ["valid_loss"] = lastValid,
            ["full_valid_loss"] = p.Eval?.ValidLoss, ["train_mean_token_accuracy"] = p.Metrics?.TokenAccuracy,
            ["valid_mean_token_accuracy"] = p.Eval?.TokenAccuracy,
            ["tokens_per_second"] = p.Metrics?.TokensPerSecond,
            ["learning_rate"] = p.Metrics?.LearningRate,
        };
        if (stage.Count > 1)
            (data["stage"], data["objective"]) = (stage.Index + 1, stage.Objective);
        foreach (var key in (string[])["reward", "kl"])
            if (p.Metrics?.Rollout?.TryGetValue(key, out var value) == true)
                data[key] = value;
        if (p.Metrics is { RewardChosen: { } chosen, RewardRejected: { } rejected })
            (data["reward_chosen"], data["reward_rejected"], data["reward_margin"]) =
                (chosen, rejected, chosen - rejected);
        if (p.Eval?.RewardMargin is { } validMargin)
            data["valid_reward_margin"] = validMargin;
        return data;
    }

    async Task<TrainingReport> TrainStageAsync(TrainingRequested job, TrainingConfig config, string output,
        StageInfo stage, CancellationToken ct)
    {
        using var trainer = Trainer.Create(config, job.RunId.ToString(), meters);
        var events = Channel.CreateUnbounded<TrainingProgress>(new UnboundedChannelOptions { SingleReader = true });
        var pump = PumpAsync(job, output, stage, events.Reader, ct);
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
        return report;
    }

    /// <summary>The last stage's model becomes the project's next model version, over the model it started from
    /// (the base, or the earlier stages merged into it, published as a base of its own).</summary>
    async Task RegisterAsync(TrainingRequested job, string start, string output, TrainingReport report,
        List<(ArtifactRef Model, string Relation)> earlier, CancellationToken ct)
    {
        var (kind, model, reportRef) = await TrainingStageResults.UploadAsync(store, $"{job.Project}/{job.RunId:N}",
            output, ct);
        var startModel = job.InitialAdapter is null && earlier.Count == 0 ? job.BaseModel
            : await inputs.PublishModelAsync(start, ct);

        int version = 0;
        await ledger.Registry.WriteAsync(async s => version = await s.CreateModelVersionAsync(job.Project, job.RunId,
            model, startModel, kind, ct), ct);
        var trained = new ModelTrained
        {
            RunId = job.RunId, Project = job.Project, ModelVersion = version, Model = model, Report = reportRef,
            BaseModel = startModel, Prepared = job.Prepared, Kind = kind, Settings = job.Settings,
            RunBaseModel = earlier.Count > 0 ? job.BaseModel : null,
        };
        await ledger.CompleteAsync(job.RunId, Stages.Training, nameof(TrainingJobRunner), job.RunId, trained, async s =>
        {
            await s.RecordArtifactAsync(job.RunId, kind, model, ct);
            await s.RecordArtifactAsync(job.RunId, "training_report", reportRef, ct);
            await s.AddLineageAsync(job.RunId, job.Shards, model, "trained", ct);
            await s.AddLineageAsync(job.RunId, startModel, model, "base", ct);
            // Each earlier stage's model went into the start of the next: the last of them into this one's base.
            foreach (var (from, relation) in earlier)
                await s.AddLineageAsync(job.RunId, from, startModel, relation, ct);
        }, $"model version {version} trained: {report.Steps} steps, stop reason {report.StopReason}, best valid " +
            $"loss {report.BestValidLoss:0.0000}", ct);
        await publish.PublishForRun(trained, job.RunId, ct);
    }

    /// <summary>The latest checkpoint of the stage that starts at step <paramref name="offset"/> of the run, from this
    /// host's scratch space or the checkpoints bucket (where the run's step numbers name it).</summary>
    async Task RestoreCheckpointAsync(Guid runId, string output, int offset, CancellationToken ct)
    {
        // this host's own copy, from before its restart
        if (TrainingCheckpoints.List(output).Count > 0)
            return;
        var latest = (await ledger.Registry.ReadAsync(s => s.ListCheckpointsAsync(runId, ct), ct))
            .Where(c => c.Step > offset).MaxBy(c => c.Step);
        if (latest is null)
            return;
        await ArtifactBundle.GetDirectoryAsync(store, latest.Artifact,
            TrainingCheckpoints.PathOf(output, latest.Step - offset), ct);
        await ledger.EventAsync(runId, "info", $"resuming from checkpoint {latest.Step} (checkpoints bucket)", ct: ct);
    }

    // Drains the engine's progress on the host side: events and TrainingProgressed per logged step, checkpoints
    // uploaded as they appear. Runs beside the training thread, so a slow store never stalls a step.
    async Task PumpAsync(TrainingRequested job, string output, StageInfo stage, ChannelReader<TrainingProgress> reader,
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
                    await ledger.EventAsync(job.RunId, "info", stage.Label + text, ct: CancellationToken.None);
                if (p.Eval is { } eval)
                    lastValid = eval.ValidLoss;
                if (p.Metrics is not { } metrics && p.Eval is null)
                    continue;
                // The run's step numbers: a later stage's steps follow the earlier stages'.
                int step = stage.Offset + p.Step, total = stage.Offset + p.TotalSteps;
                var data = MetricsData(p, stage, lastValid);
                var line = stage.Label + (p.Eval is { } e
                    ? $"step {step}: validation loss {e.ValidLoss:0.0000} ({e.Seconds:0.0} s)"
                    : $"step {step}/{total}: train loss {p.Metrics!.TrainLoss:0.0000}, " +
                        $"{p.Metrics.TokensPerSecond:N0} tokens/s" +
                        (p.Remaining is { } left ? $", ETA {TrainingProgress.Format(left)}" : ""));
                await ledger.EventAsync(job.RunId, "info", line, JsonSerializer.Serialize(data), "metrics",
                    CancellationToken.None);
                // The answers to a few fixed validation prompts, so a person sees them improve (eval.sample_prompts).
                foreach (var sample in p.Eval?.Samples ?? [])
                    await ledger.EventAsync(job.RunId, "info", $"{stage.Label}step {step} sample {sample.Example}: " +
                        Shorten(sample.Answer), JsonSerializer.Serialize(new
                        {
                            step, example = sample.Example, prompt = sample.Prompt,
                            reference = sample.Reference, answer = sample.Answer,
                        }), "sample", CancellationToken.None);
                if (p.Metrics is { } s)
                    await publish.PublishForRun(new TrainingProgressed
                    {
                        RunId = job.RunId, Step = step, TotalSteps = total, TrainLoss = s.TrainLoss,
                        ValidLoss = lastValid,
                        MeanTokenAccuracy = s.TokenAccuracy, TokensPerSecond = s.TokensPerSecond,
                        LearningRate = s.LearningRate,
                    }, job.RunId, CancellationToken.None,
                        step.ToString(System.Globalization.CultureInfo.InvariantCulture));
                foreach (var (local, path) in TrainingCheckpoints.List(output))
                    if (!uploaded.Contains(stage.Offset + local)
                        && await UploadCheckpointAsync(job, stage.Offset + local, path, data))
                        uploaded.Add(stage.Offset + local);
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
