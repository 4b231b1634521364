// Issue 19: training.stages — one run trains SFT, then GRPO from the SFT model merged into its base. Each stage is
// checked when the settings load (naming its key), a job stopped between stages resumes with the next stage (the
// finished one is fetched from the models bucket, not trained again), and the candidate is compared with the base
// model the run was given.
using System.Text.Json.Nodes;
using FineTune.Contracts;
using FineTune.Training;

namespace FineTune.Pipeline.Tests;

public sealed class TrainingStagesTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    [Fact]
    public void Each_stage_is_the_section_with_its_own_keys_laid_over_it()
    {
        var settings = PipelineSettings.Parse("""
            { "training": {
                "lora": { "rank": 4 },
                "stages": [
                  { "objective": "sft" },
                  { "objective": "grpo", "lora": { "alpha": 64 }, "training": { "max_steps": 7 },
                    "grpo": { "num_generations": 2, "rewards": [ { "type": "json_valid" } ] } }
                ] } }
            """, "pipeline.json");

        var stages = settings.TrainingStageConfigs();
        Assert.Equal([TrainingObjective.Sft, TrainingObjective.Grpo], stages.Select(s => s.Objective));
        Assert.All(stages, s => Assert.Equal(4, s.Lora.Rank));   // from the section
        Assert.Equal(["all-linear"], stages[1].Lora.TargetModules);   // from the pipeline's defaults
        Assert.Equal(64, stages[1].Lora.Alpha);
        Assert.NotEqual(64, stages[0].Lora.Alpha);
        Assert.Equal((null, 7), (stages[0].Training.MaxSteps, stages[1].Training.MaxSteps));
        Assert.Equal(3, stages[0].Training.Epochs);
        Assert.Equal(TrainingObjective.Grpo, settings.TrainingConfig().Objective);
    }

    [Fact]
    public void The_shipped_sft_then_grpo_settings_load_with_their_two_stages()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "global.json")))
            root = root.Parent!;
        var settings = PipelineSettings.Load(Path.Combine(root.FullName, "configs", "pipeline-sft-grpo.json"));
        var stages = settings.TrainingStageConfigs();
        Assert.Equal([TrainingObjective.Sft, TrainingObjective.Grpo], stages.Select(s => s.Objective));
        Assert.Equal(Data.Tokenization.Truncation.Drop, settings.Tokenize.Truncation);
        Assert.Equal(["json_valid", "field_match", "field_match"], stages[1].Grpo.Rewards.Select(r => r.Type));
    }

    [Theory]
    [InlineData("""
        { "training": { "stages": [ { "objective": "sft" }, { "objective": "grpo", "grpo": {
          "num_generations": 1, "rewards": [ { "type": "json_valid" } ] } } ] } }
        """, "training.stages[1].grpo.num_generations")]
    [InlineData("""
        { "training": { "stages": [ { "objective": "sft" }, { "objective": "grpo", "grpo": {
          "rewards": [ { "type": "json_vlaid" } ] } } ] } }
        """, "training.stages[1].grpo.rewards[0].type")]
    [InlineData("""{ "training": { "stages": [ { "objective": "sft", "lora": { "rnak": 2 } } ] } }""",
        "unknown key 'training.stages[0].lora.rnak'")]
    [InlineData("""{ "training": { "lora": { "rank": 0 }, "stages": [ { "objective": "sft" } ] } }""",
        "training.lora.rank must be a positive integer")]
    [InlineData("""{ "training": { "stages": [ { "objective": "sft" }, { "objective": "dpo" } ] } }""",
        "'training.stages[1].objective' is dpo, which reads preference pairs, but stage 0 (sft) reads chat or text")]
    [InlineData("""{ "training": { "stages": [ { "objective": "reward_model" } ] } }""",
        "'training.stages[0].objective' is reward_model: a run ends in a model that answers")]
    [InlineData("""{ "training": { "objective": "reward_model" } }""", "'training.objective' is reward_model")]
    [InlineData("""{ "training": { "stages": [] } }""", "'training.stages' must be a list of 1 to 4 objects")]
    [InlineData("""{ "training": { "stages": [ "sft", "grpo" ] } }""", "'training.stages' must be a list of 1 to")]
    [InlineData("""{ "training": { "stages": [ { "stages": [] } ] } }""", "'training.stages[0].stages': stages do not")]
    public void A_bad_stage_is_refused_at_load_naming_its_key(string json, string expected)
    {
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => PipelineSettings.Parse(json, "pipeline.json"));
        Assert.StartsWith("pipeline.json: ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task Sft_then_grpo_in_one_run_resumes_after_the_sft_stage_without_training_it_again()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var home = Path.Combine(tmp.Path, "home");
        var settings = Staged();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(6));

        Guid runId;
        await using (var first = await LocalPipeline.StartAsync(home, PipelineFixture.FastHost()))
        {
            runId = await first.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 100, 21), "staged",
                baseModel, settings, timeout.Token);
            // Stop the host once the GRPO stage has begun: the SFT stage is recorded, the GRPO one is not.
            while (!(await first.Registry.ReadAsync(s => s.ListEventsAsync(runId))).Any(e =>
                e.Message.StartsWith("stage 2/2 (grpo): started", StringComparison.Ordinal)))
                await Task.Delay(Poll, timeout.Token);
        }
        // Another host: none of this one's scratch space.
        Directory.Delete(Path.Combine(home, "work", "runs", runId.ToString("N")), recursive: true);

        await using var second = await LocalPipeline.StartAsync(home, PipelineFixture.FastHost());
        var run = await second.WaitAsync(runId, null, Poll, timeout.Token);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        var (events, artifacts, lineage, version, checkpoints) = await second.Registry.ReadAsync(async s => (
            await s.ListEventsAsync(runId, limit: 10_000), await s.ListArtifactsAsync(runId),
            await s.ListLineageAsync(runId), await s.GetModelVersionAsync("staged", 1),
            await s.ListCheckpointsAsync(runId)));
        var messages = events.Select(e => e.Message).ToList();
        Assert.Single(messages, m => m.StartsWith("stage 1/2 (sft): started", StringComparison.Ordinal));
        Assert.Single(messages, m => m.StartsWith("stage 1/2 (sft): done", StringComparison.Ordinal));
        Assert.Contains("stage 1 was trained before: its adapter fetched from the models bucket", messages);
        Assert.Equal(2, messages.Count(m => m.StartsWith("stage 2/2 (grpo): started", StringComparison.Ordinal)));

        // The run's steps go on across stages: GRPO's first step follows SFT's last.
        List<JsonNode> Steps(string stage) => [.. events
            .Where(e => e.Type == "metrics" && e.Message.StartsWith(stage, StringComparison.Ordinal))
            .Select(e => JsonNode.Parse(e.DataJson!)!).Where(m => m["train_loss"] is not null)];
        int sftLast = Steps("stage 1/2 (sft): ").Max(m => m["step"]!.GetValue<int>());
        var grpoMetrics = Steps("stage 2/2 (grpo): ");
        Assert.NotEmpty(grpoMetrics);
        Assert.Equal(sftLast + 1, grpoMetrics.Min(m => m["step"]!.GetValue<int>()));
        Assert.All(grpoMetrics, m => Assert.NotNull(m["reward"]));
        Assert.Contains(checkpoints, c => c.Step > sftLast);

        // The model version: the GRPO adapter over the SFT model merged into the base, which the SFT adapter went into.
        Assert.Contains(artifacts, a => a.Kind == "stage-1-adapter");
        Assert.Equal("adapter", version!.Kind);
        Assert.StartsWith("base/", version.BaseModel.Key);
        var sftAdapter = artifacts.Single(a => a.Kind == "stage-1-adapter").Artifact;
        Assert.Contains(lineage, e => e.Relation == "stage 1 (sft)" && e.From == sftAdapter
            && e.To == version.BaseModel);
        Assert.Contains(lineage, e => e.Relation == "base" && e.To == version.Model && e.From == version.BaseModel);
        // Without production the candidate is compared with the base model the run was given, not the SFT stage.
        var runBase = Pipeline.Training.TrainingJobRequest.Parse((await second.Registry.ReadAsync(s =>
            s.GetTrainingJobAsync(runId)))!.RequestJson).Message.BaseModel;
        Assert.NotEqual(runBase, version.BaseModel);
        var baselineInfo = await second.Store.StatAsync(Buckets.Evaluations, $"staged/{runId:N}/baseline_results.json");
        var baselinePath = Path.Combine(tmp.Path, "baseline_results.json");
        await second.Store.GetFileAsync(new ArtifactRef(baselineInfo!.Bucket, baselineInfo.Key, baselineInfo.Sha256!,
            baselineInfo.Bytes), baselinePath);
        Assert.EndsWith(runBase.Sha256[..16], Evals.EvalReport.Load(baselinePath).Model);

        // The run's files: the GRPO adapter's report, and the model it applies to beside it.
        var outDir = Path.Combine(tmp.Path, "out");
        var runReport = await Runs.RunReport.WriteAsync(second.Registry, second.Store, runId, outDir, timeout.Token);
        Assert.Equal("grpo", JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(outDir,
            TrainingReport.FileName)))!["objective"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(outDir, "adapter", "adapter_config.json")));
        Assert.True(File.Exists(Path.Combine(outDir, "base_model", "config.json")));
        Assert.Contains("base_model", runReport.Files.Keys);
    }

    static PipelineSettings Staged()
    {
        var fast = PipelineFixture.FastSettings(epochs: 1);
        // GRPO compares answers with the references: examples longer than max_length are dropped, not cut.
        var settings = fast with { Tokenize = fast.Tokenize with { Truncation = Data.Tokenization.Truncation.Drop } };
        settings.Training["stages"] = new JsonArray(
            new JsonObject { ["objective"] = "sft" },
            new JsonObject
            {
                ["objective"] = "grpo",
                ["optimizer"] = new JsonObject { ["lr"] = 1e-3 },
                ["training"] = new JsonObject { ["max_steps"] = 4, ["micro_batch_size"] = 2 },
                ["eval"] = new JsonObject { ["every_steps"] = 4, ["max_examples"] = 4 },
                ["checkpoint"] = new JsonObject { ["every_steps"] = 2 },
                ["grpo"] = new JsonObject
                {
                    ["num_generations"] = 4, ["max_new_tokens"] = 24, ["temperature"] = 0.8,
                    ["rewards"] = new JsonArray(new JsonObject { ["type"] = "json_valid" },
                        new JsonObject { ["type"] = "field_match", ["fields"] = new JsonArray("category") }),
                },
            });
        return settings;
    }
}
