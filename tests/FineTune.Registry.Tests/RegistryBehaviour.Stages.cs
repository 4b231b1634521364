// The registry behaviour suite, part 2: stage executions and their stored output, artifacts, lineage, datasets,
// checkpoints.
using FineTune.Contracts;

namespace FineTune.Registry.Tests;

public abstract partial class RegistryBehaviour
{
    [SkippableFact]
    public async Task A_restarted_stage_counts_attempts_and_a_completed_one_keeps_its_output()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        await fx.Registry.WriteAsync(s => s.StartStageAsync(runId, Stages.Ingestion));
        await fx.Registry.WriteAsync(s => s.FailStageAsync(runId, Stages.Ingestion, "minio timed out"));
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetStageOutputAsync(runId, Stages.Ingestion)));
        fx.Clock.Advance(TimeSpan.FromSeconds(10));
        await fx.Registry.WriteAsync(s => s.StartStageAsync(runId, Stages.Ingestion));
        fx.Clock.Advance(TimeSpan.FromSeconds(30));
        await fx.Registry.WriteAsync(s => s.CompleteStageAsync(runId, Stages.Ingestion, """{"examples":12}"""));
        // A redelivery starts, fails and completes it again: the first completion stands.
        await fx.Registry.WriteAsync(s => s.StartStageAsync(runId, Stages.Ingestion));
        await fx.Registry.WriteAsync(s => s.FailStageAsync(runId, Stages.Ingestion, "late failure"));
        await fx.Registry.WriteAsync(s => s.CompleteStageAsync(runId, Stages.Ingestion, """{"examples":99}"""));

        var stage = Assert.Single(await fx.Registry.ReadAsync(s => s.ListStagesAsync(runId)));
        Assert.Equal((Stages.Ingestion, StageStatus.Succeeded, 3, (string?)null),
            (stage.Stage, stage.Status, stage.Attempts, stage.Error));
        Assert.Equal(30.0, stage.Seconds);
        Assert.Equal("""{"examples":12}""",
            await fx.Registry.ReadAsync(s => s.GetStageOutputAsync(runId, Stages.Ingestion)));
    }

    [SkippableFact]
    public async Task Stages_list_in_the_order_they_started()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        await fx.Registry.WriteAsync(s => s.StartStageAsync(runId, Stages.Tokenization));
        fx.Clock.Advance(TimeSpan.FromSeconds(1));
        await fx.Registry.WriteAsync(s => s.StartStageAsync(runId, Stages.Training));
        await fx.Registry.WriteAsync(s => s.FailStageAsync(runId, Stages.Training, "CUDA out of memory"));

        var stages = await fx.Registry.ReadAsync(s => s.ListStagesAsync(runId));
        Assert.Equal([Stages.Tokenization, Stages.Training], stages.Select(st => st.Stage));
        Assert.Equal((StageStatus.Running, (double?)null), (stages[0].Status, stages[0].Seconds));
        Assert.Equal((StageStatus.Failed, "CUDA out of memory"), (stages[1].Status, stages[1].Error));
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetStageOutputAsync(runId, Stages.Training)));
    }

    [SkippableFact]
    public async Task Lineage_edges_are_recorded_once()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        var raw = Ref("demo/chat.jsonl", Buckets.Ingestion);
        var cleaned = Ref($"ingestion/{runId}/abc/prepared/manifest.json");
        var tokenized = Ref($"tokenization/{runId}/def/manifest.json", Buckets.Tokenized);

        for (var delivery = 0; delivery < 2; delivery++)
            await fx.Registry.WriteAsync(async s =>
            {
                await s.AddLineageAsync(runId, raw, cleaned, "cleaned");
                await s.AddLineageAsync(runId, cleaned, tokenized, "tokenized");
            });

        var edges = await fx.Registry.ReadAsync(s => s.ListLineageAsync(runId));
        Assert.Equal([new LineageEdge(runId, raw, cleaned, "cleaned", RegistryFixture.Start),
            new LineageEdge(runId, cleaned, tokenized, "tokenized", RegistryFixture.Start)], edges);
    }

    [SkippableFact]
    public async Task Artifacts_are_recorded_once_per_object()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        var adapter = Ref($"training/{runId}/abc/adapter/manifest.json", Buckets.Models, bytes: 9000);

        await fx.Registry.WriteAsync(s => s.RecordArtifactAsync(runId, "adapter", adapter));
        await fx.Registry.WriteAsync(s => s.RecordArtifactAsync(runId, "adapter", adapter with { Bytes = 1 }));
        await fx.Registry.WriteAsync(s => s.RecordArtifactAsync(runId, "report",
            Ref($"training/{runId}/abc/report.json", Buckets.Models)));

        var artifacts = await fx.Registry.ReadAsync(s => s.ListArtifactsAsync(runId));
        Assert.Equal(2, artifacts.Count);
        Assert.Contains(new ArtifactRecord(runId, "adapter", adapter, RegistryFixture.Start), artifacts);
    }

    [SkippableFact]
    public async Task A_dataset_is_recorded_once_per_run_and_listed_oldest_first()
    {
        await using var fx = await CreateFixtureAsync();
        var first = await NewRunAsync(fx.Registry);
        var second = await NewRunAsync(fx.Registry);
        var dataset = new DatasetRecord(first, "demo", Ref("prepared/manifest.json", bytes: 5000),
            Ref("data_card.json"), 120, 3, default);

        await fx.Registry.WriteAsync(s => s.RecordDatasetAsync(dataset));
        await fx.Registry.WriteAsync(s => s.RecordDatasetAsync(dataset with { Examples = 1 }));
        fx.Clock.Advance(TimeSpan.FromHours(1));
        await fx.Registry.WriteAsync(s => s.RecordDatasetAsync(dataset with
        {
            RunId = second,
            CreatedAt = RegistryFixture.Start.AddDays(1)
        }));

        var datasets = await fx.Registry.ReadAsync(s => s.ListDatasetsAsync("demo"));
        Assert.Equal([dataset with { CreatedAt = RegistryFixture.Start },
            dataset with { RunId = second, CreatedAt = RegistryFixture.Start.AddDays(1) }], datasets);
        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListDatasetsAsync("other")));
    }

    [SkippableFact]
    public async Task Checkpoints_are_recorded_once_per_step()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        var step200 = Ref($"{runId}/step-200/manifest.json", Buckets.Checkpoints, bytes: 1L << 33);

        await fx.Registry.WriteAsync(s => s.RecordCheckpointAsync(runId, 200, step200, """{"loss":1.25}"""));
        await fx.Registry.WriteAsync(s => s.RecordCheckpointAsync(runId, 200, Ref("other", Buckets.Checkpoints),
            """{"loss":9}"""));
        await fx.Registry.WriteAsync(s => s.RecordCheckpointAsync(runId, 100, Ref("step-100", Buckets.Checkpoints),
            """{"loss":2.5}"""));

        var checkpoints = await fx.Registry.ReadAsync(s => s.ListCheckpointsAsync(runId));
        Assert.Equal([100, 200], checkpoints.Select(c => c.Step));
        Assert.Equal(new CheckpointRecord(runId, 200, step200, """{"loss":1.25}""", RegistryFixture.Start),
            checkpoints[1]);
    }
}
