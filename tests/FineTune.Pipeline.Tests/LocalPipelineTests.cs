// Harness tests: the whole pipeline in one process (in-memory transport, local artifact folder, SQLite) over the real
// stage libraries and a tiny pre-trained base model — drop to decision, rejects, retraining, redelivery.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class LocalPipelineTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task A_dropped_dataset_is_cleaned_tokenized_trained_evaluated_and_decided_with_full_lineage()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        var file = await PipelineFixture.TicketsAsync(tmp.Path, 160, 1);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));

        var runId = await pipeline.SubmitAsync(file, "tickets", baseModel, PipelineFixture.FastSettings(),
            timeout.Token);
        var run = await pipeline.WaitAsync(runId, null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Contains(run.Decision, new[] { "promoted", "rejected" });
        Assert.Equal(1, run.ModelVersion);
        var (stages, lineage, versions, job, checkpoints, events) = await pipeline.Registry.ReadAsync(async s => (
            await s.ListStagesAsync(runId), await s.ListLineageAsync(runId), await s.ListModelVersionsAsync("tickets"),
            await s.GetTrainingJobAsync(runId), await s.ListCheckpointsAsync(runId), await s.ListEventsAsync(runId)));
        Assert.Equal(Stages.All, stages.Select(s => s.Stage).ToArray());
        Assert.All(stages, s => Assert.Equal(FineTune.Registry.StageStatus.Succeeded, s.Status));
        var relations = lineage.Select(e => e.Relation).ToHashSet();
        foreach (var r in new[] { "cleaned", "tokenized", "trained", "evaluated", "gated" })
            Assert.Contains(r, relations);
        Assert.Equal(run.Decision == "promoted", relations.Contains("deployed"));
        Assert.Single(versions);
        Assert.Equal("succeeded", job!.Status);
        Assert.NotEmpty(checkpoints);
        Assert.Contains(events, e => e.Type == "metrics" && e.DataJson!.Contains("train_loss"));

        var report = await RunReport.WriteAsync(pipeline.Registry, pipeline.Store, runId,
            Path.Combine(tmp.Path, "out"), timeout.Token);
        Assert.True(File.Exists(Path.Combine(tmp.Path, "out", "report.json")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "out", "adapter", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "out", "data_card.json")));
        Assert.True(File.Exists(Path.Combine(tmp.Path, "out", "evaluation", "gate.json")));
        Assert.Contains("perplexity/token_accuracy", report.Metrics["candidate"].Keys);
        Assert.Contains("perplexity/token_accuracy", report.Metrics["baseline"].Keys);
        // Fine-tuning on the task must beat the base model at predicting the task's answers.
        Assert.True(report.Metrics["candidate"]["perplexity/nll"] < report.Metrics["baseline"]["perplexity/nll"],
            $"candidate nll {report.Metrics["candidate"]["perplexity/nll"]} vs base " +
                $"{report.Metrics["baseline"]["perplexity/nll"]}");
    }

    [Fact]
    public async Task A_malformed_file_fails_its_run_with_a_rejects_report_and_starts_no_training()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var runId = await pipeline.SubmitAsync(PipelineFixture.Malformed(tmp.Path), "broken", baseModel,
            PipelineFixture.FastSettings(), timeout.Token);
        var run = await pipeline.WaitAsync(runId, null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("rejected", run.Error);
        var rejects = await pipeline.Store.StatAsync(Buckets.Datasets, $"broken/{runId:N}/rejects.jsonl");
        Assert.NotNull(rejects);
        Assert.True(rejects!.Bytes > 0);
        var job = await pipeline.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId));
        Assert.Null(job);
    }

    [Fact]
    public async Task Redelivered_messages_and_a_resubmitted_file_do_no_duplicate_work_and_other_inputs_are_refused()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        var file = await PipelineFixture.TicketsAsync(tmp.Path, 120, 2);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var runId = await pipeline.SubmitAsync(file, "dup", baseModel, PipelineFixture.FastSettings(epochs: 1),
            timeout.Token);
        await pipeline.WaitAsync(runId, null, Poll, timeout.Token);

        // Redeliver every stage's input, as RabbitMQ does after a lost acknowledgement: same message ids.
        var bus = pipeline.Services.GetRequiredService<IBus>();
        var before = await Counts(pipeline, runId);
        var outputs = await pipeline.Registry.ReadAsync(s => StageOutput.ReadAllAsync(s, runId));
        await bus.PublishForRun(outputs[Stages.Ingestion].As<DatasetCleaned>(), runId, timeout.Token);
        await bus.PublishForRun(outputs[Stages.Tokenization].As<DatasetTokenized>(), runId, timeout.Token);
        await bus.PublishForRun(outputs[Stages.Training].As<ModelTrained>(), runId, timeout.Token);
        await bus.PublishForRun(outputs[Stages.Evaluation].As<EvaluationCompleted>(), runId, timeout.Token);
        await Task.Delay(TimeSpan.FromSeconds(3), timeout.Token);

        var after = await Counts(pipeline, runId);
        Assert.Equal(before, after);

        // The same file submitted again is the same run; with another base model or other settings it is refused,
        // not answered with the run trained on the first ones.
        Assert.Equal(runId, await pipeline.SubmitAsync(file, "dup", baseModel, PipelineFixture.FastSettings(epochs: 1),
            timeout.Token));
        Assert.Equal(before, await Counts(pipeline, runId));
        var otherSettings = await Assert.ThrowsAsync<ArgumentException>(() => pipeline.SubmitAsync(file, "dup",
            baseModel, PipelineFixture.FastSettings(epochs: 2), timeout.Token));
        Assert.Contains($"already ran in project 'dup' (run {runId}", otherSettings.Message);
        Assert.Contains("with settings models/settings/", otherSettings.Message);
        var otherBase = Path.Combine(tmp.Path, "other-base");
        Directory.CreateDirectory(otherBase);
        foreach (var f in Directory.GetFiles(baseModel))
            File.Copy(f, Path.Combine(otherBase, Path.GetFileName(f)));
        var otherModel = await Assert.ThrowsAsync<ArgumentException>(() => pipeline.SubmitAsync(file, "dup",
            otherBase, PipelineFixture.FastSettings(epochs: 1), timeout.Token));
        Assert.Contains("with base model models/base/", otherModel.Message);
        Assert.Contains(", not models/base/other-base-", otherModel.Message);
        Assert.Equal(before, await Counts(pipeline, runId));
    }

    static Task<(int Versions, int Stages, int Attempts, int Datasets, int Deployments)> Counts(LocalPipeline pipeline,
        Guid runId) =>
        pipeline.Registry.ReadAsync(async s =>
        {
            var stages = await s.ListStagesAsync(runId);
            var run = (await s.GetRunAsync(runId))!;
            return ((await s.ListModelVersionsAsync(run.Project)).Count, stages.Count, stages.Sum(x => x.Attempts),
                (await s.ListDatasetsAsync(run.Project)).Count,
                    (await s.ListDeploymentsAsync(run.Project, "candidate")).Count);
        });
}
