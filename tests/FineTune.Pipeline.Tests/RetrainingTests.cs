// Harness tests of what happens around a run: the bucket watcher's reconciliation scan, new data retraining a project
// (cumulative data, the policy's minimum), a stage failing for good, and a cancelled training job.
using System.Text.Json.Nodes;
using FineTune.Contracts;
using FineTune.Data.Tokenization;
using FineTune.Pipeline.Ingestion;
using FineTune.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class RetrainingTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task The_bucket_watcher_starts_one_run_per_new_object_with_the_configured_defaults()
    {
        using var tmp = new TempDir();
        var settingsFile = Path.Combine(tmp.Path, "settings.json");
        await File.WriteAllTextAsync(settingsFile, PipelineFixture.FastSettings(epochs: 1).ToJson());
        var host = PipelineFixture.FastHost();
        host["Pipeline:BaseModelDirectory"] = await PipelineFixture.BaseModelAsync();
        host["Pipeline:SettingsFile"] = settingsFile;
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"), host);
        var watcher = pipeline.Services.GetRequiredService<BucketWatcher>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));

        await pipeline.Store.PutFileAsync(Buckets.Ingestion, "watched/tickets.jsonl",
            await PipelineFixture.TicketsAsync(tmp.Path, 100, 3), timeout.Token);
        await pipeline.Store.PutFileAsync(Buckets.Ingestion, "no-project-prefix.jsonl",
            PipelineFixture.Malformed(tmp.Path), timeout.Token);
        var first = await watcher.ScanAsync(timeout.Token);
        var second = await watcher.ScanAsync(timeout.Token);

        var runId = Assert.Single(first);
        Assert.Empty(second);
        var run = await pipeline.WaitAsync(runId, null, Poll, timeout.Token);
        Assert.Equal(RunStatus.Succeeded, run.Status);
        Assert.Equal("drop", run.Trigger);
        Assert.Equal("watched/tickets.jsonl", run.SourceKey);
    }

    [Fact]
    public async Task New_data_retrains_a_project_on_its_cumulative_dataset_and_the_policy_minimum_skips_small_drops()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));
        var settings = PipelineFixture.FastSettings(epochs: 1);

        var first = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path,
            100, 4), "shop", baseModel, settings, timeout.Token),
            null, Poll, timeout.Token);
        var secondId = await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 40, 5), "shop",
            baseModel, settings, timeout.Token);
        var second = await pipeline.WaitAsync(secondId, null, Poll, timeout.Token);
        var strict = settings with { Retraining = new RetrainingSettings { MinNewExamples = 1000 } };
        var third = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path,
            30, 6), "shop", baseModel, strict, timeout.Token),
            null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Succeeded, first.Status);
        Assert.Equal("drop", first.Trigger);
        Assert.Equal(RunStatus.Succeeded, second.Status);
        Assert.Equal("retrain", second.Trigger);
        Assert.Equal(2, second.ModelVersion);
        var datasets = await pipeline.Registry.ReadAsync(s => s.ListDatasetsAsync("shop"));
        // Cumulative: the second run trained on the first file's cleaned examples plus its own.
        Assert.True(datasets[1].Examples > datasets[0].Examples + 30,
            $"{datasets[0].Examples} then {datasets[1].Examples}");
        Assert.Equal(RunStatus.Cancelled, third.Status);
        Assert.Contains("min_new_examples", third.Error);
        Assert.Null(await pipeline.Registry.ReadAsync(s => s.GetTrainingJobAsync(third.RunId)));
        Assert.Equal(2, (await pipeline.Registry.ReadAsync(s => s.ListModelVersionsAsync("shop"))).Count);
    }

    [Fact]
    public async Task A_stage_that_cannot_succeed_fails_the_run_with_the_stage_and_reason_and_no_retry()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        // Every example is longer than 8 tokens and truncation drops them: tokenization has nothing left to train on.
        var settings = PipelineFixture.FastSettings() with
        {
            Tokenize = new TokenizeSettings
            {
                MaxLength = 8,
                Truncation = Truncation.Drop, ChatTemplate = "chatml"
            }
        };

        var run = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 60,
            7), "short", baseModel, settings, timeout.Token),
            null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.StartsWith("tokenization: ", run.Error);
        Assert.Contains("no training examples", run.Error);
        var stages = await pipeline.Registry.ReadAsync(s => s.ListStagesAsync(run.RunId));
        var tokenization = stages.Single(s => s.Stage == Stages.Tokenization);
        Assert.Equal(StageStatus.Failed, tokenization.Status);
        Assert.Equal(1, tokenization.Attempts);
    }

    [Fact]
    public async Task Cancelling_a_training_run_stops_the_job_frees_its_scratch_space_and_registers_no_model()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var host = PipelineFixture.FastHost();
        host["Pipeline:TrainingLeaseSeconds"] = "6";   // renewals every 2 s: the worker notices within that
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"), host);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var settings = PipelineFixture.FastSettings(epochs: 50);

        var runId = await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 100, 8), "stop", baseModel,
            settings, timeout.Token);
        while ((await pipeline.Registry.ReadAsync(s => s.ListCheckpointsAsync(runId))).Count == 0)
            await Task.Delay(Poll, timeout.Token);
        Assert.True(await Runs.RunCancellation.CancelAsync(pipeline.Registry, runId, "test", timeout.Token));
        // The worker notices at its next lease renewal, stops the engine (which checkpoints) and frees the scratch
        // space.
        while (!(await pipeline.Registry.ReadAsync(s => s.ListEventsAsync(runId))).Any(e =>
            e.Message.StartsWith("training stopped", StringComparison.Ordinal)))
            await Task.Delay(Poll, timeout.Token);

        var job = await pipeline.Registry.ReadAsync(s => s.GetTrainingJobAsync(runId));
        Assert.Equal("cancelled", job!.Status);
        var run = await pipeline.Registry.ReadAsync(s => s.GetRunAsync(runId));
        Assert.Equal(RunStatus.Cancelled, run!.Status);
        Assert.Empty(await pipeline.Registry.ReadAsync(s => s.ListModelVersionsAsync("stop")));
        Assert.False(Directory.Exists(Path.Combine(tmp.Path, "home", "work", "runs", runId.ToString("N"))));
    }

    [Fact]
    public async Task Retraining_from_production_trains_over_the_merged_production_model_and_is_compared_with_it()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var settings = PipelineFixture.FastSettings(epochs: 1) with
        {
            Retraining = new RetrainingSettings
            {
                StartFrom = RetrainingStart.Production
            }
        };

        var first = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path,
            100, 9), "prod", baseModel, settings, timeout.Token),
            null, Poll, timeout.Token);
        Assert.Equal(RunStatus.Succeeded, first.Status);
        // Whatever the gate said of version 1, make it production: this test is about what the next run starts from.
        await pipeline.Registry.WriteAsync(s => s.SetAliasAsync("prod", "production", 1, first.RunId, "test setup"));

        var second = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path,
            60, 10), "prod", baseModel, settings, timeout.Token),
            null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Succeeded, second.Status);
        var (v1, v2, evaluation) = await pipeline.Registry.ReadAsync(async s =>
            (await s.GetModelVersionAsync("prod", 1), await s.GetModelVersionAsync("prod", 2),
                await s.GetEvaluationAsync("prod", 2)));
        Assert.NotEqual(v1!.BaseModel, v2!.BaseModel);   // v2's base is v1 merged into the original base
        Assert.StartsWith("base/", v2.BaseModel.Key);
        Assert.Equal(1, evaluation!.BaselineVersion);
    }
}
