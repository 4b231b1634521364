// finetune run end to end in one process on a tiny pre-trained base: report.json with the decision, reasons, metrics
// and stages, and the run's files; then the operator commands over the same home (runs, events, models); a malformed
// dataset exits 1 with the rejects beside the report.
using System.Text.Json.Nodes;
using FineTune.Pipeline.Tests;

namespace FineTune.Cli.Tests;

[Collection("training")]
public class RunCliTests
{
    [Fact]
    public async Task Run_writes_the_report_and_the_runs_files_and_the_operator_commands_show_the_run()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        var data = await PipelineFixture.TicketsAsync(tmp.Path, 120, 21);
        var config = Path.Combine(tmp.Path, "pipeline.json");
        await File.WriteAllTextAsync(config, PipelineFixture.FastSettings(epochs: 1).ToJson());
        string home = Path.Combine(tmp.Path, "home"), output = Path.Combine(tmp.Path, "out");

        var (exit, stdout, stderr) = await CliRunner.Run("run", data, "--base", baseModel, "--config", config, "--out",
            output, "--home", home, "--threads", "2");

        Assert.True(exit == 0, stderr + stdout);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")))!;
        Assert.Contains(report["decision"]!.GetValue<string>(), new[] { "promoted", "rejected" });
        Assert.Equal(1, report["model_version"]!.GetValue<int>());
        Assert.NotEmpty(report["reasons"]!.AsArray());
        Assert.True(report["metrics"]!["candidate"]!["perplexity/token_accuracy"] is not null);
        Assert.True(report["metrics"]!["baseline"]!["perplexity/token_accuracy"] is not null);
        // The task suite scores the same answers: the tickets are JSON, so validity and per-field accuracy are
        // reported.
        foreach (var metric in new[] { "task/json_valid", "task/schema_valid", "task/category_accuracy",
            "task/priority_accuracy" })
            Assert.True(report["metrics"]!["candidate"]![metric] is not null
                && report["metrics"]!["baseline"]![metric] is not null, metric);
        Assert.Equal(["ingestion", "tokenization", "training", "evaluation", "deployment"],
            report["stages"]!.AsArray().Select(s => s!["name"]!.GetValue<string>()).ToArray());
        Assert.All(report["stages"]!.AsArray(), s => Assert.True(s!["seconds"]!.GetValue<double>() >= 0));
        foreach (var file in new[] { "data_card.json", "adapter/adapter_config.json", "training_report.json",
            "evaluation/gate.json" })
            Assert.True(File.Exists(Path.Combine(output, file)), file);
        // The report a person reads: every metric of both models with the rule that judged it, then the worst examples.
        var comparison = await File.ReadAllTextAsync(Path.Combine(output, "evaluation", "report.md"));
        Assert.Contains("| task/json_valid |", comparison);
        Assert.Contains("## Where the candidate got worse", comparison);
        var comparisonJson = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "evaluation",
            "comparison.json")))!;
        Assert.Contains(comparisonJson["metrics"]!.AsArray(), m => m!["name"]!.GetValue<string>() == "task/json_valid");
        Assert.Contains(comparisonJson["metrics"]!.AsArray(), m => m!["gate"] is JsonObject);
        var tokenization = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output,
            "data_card.json")))!["tokenization"]!;
        Assert.Equal(256, tokenization["max_length"]!.GetValue<int>());
        Assert.True(tokenization["splits"]!["train"]!["examples"]!.GetValue<long>() > 0);
        // plain lines carry speed and time left
        Assert.Matches(@"step \d+/\d+: train loss [0-9.]+, [0-9,]+ tokens/s, ETA \d", stderr);
        Assert.Contains("[training] succeeded", stderr);   // intermediate states may fall between two polls
        Assert.Contains("decision: ", stdout);

        var runId = report["run_id"]!.GetValue<string>();
        var (runsExit, runsOut, _) = await CliRunner.Run("runs", "--home", home);
        Assert.Equal(0, runsExit);
        Assert.Contains(runId, runsOut);
        Assert.Contains("succeeded", runsOut);
        var (eventsExit, eventsOut, _) = await CliRunner.Run("events", runId, "--home", home);
        Assert.Equal(0, eventsExit);
        Assert.Contains("metrics", eventsOut);
        Assert.Contains("train_loss", eventsOut);
        var (modelsExit, modelsOut, _) = await CliRunner.Run("models", "--home", home);
        Assert.Equal(0, modelsExit);
        Assert.Contains("candidate", modelsOut);
        var (checkpointsExit, checkpointsOut, _) = await CliRunner.Run("checkpoints", runId, "--home", home);
        Assert.Equal(0, checkpointsExit);
        Assert.Contains($"checkpoints/tickets-21/{Guid.Parse(runId):N}/checkpoint-", checkpointsOut);
        var (cancelExit, _, cancelErr) = await CliRunner.Run("cancel", runId, "--home", home);
        Assert.Equal(1, cancelExit);
        Assert.Contains("already ended", cancelErr);
    }

    [Fact]
    public async Task Run_on_a_malformed_file_exits_1_with_the_rejects_beside_the_report()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        string home = Path.Combine(tmp.Path, "home"), output = Path.Combine(tmp.Path, "out");
        var config = Path.Combine(tmp.Path, "pipeline.json");
        await File.WriteAllTextAsync(config, PipelineFixture.FastSettings().ToJson());

        var (exit, stdout, stderr) = await CliRunner.Run("run", PipelineFixture.Malformed(tmp.Path), "--base",
            baseModel, "--config", config, "--out", output, "--home", home);

        Assert.True(exit == 1, stderr + stdout);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")))!;
        Assert.Equal("failed", report["status"]!.GetValue<string>());
        Assert.Null(report["decision"]);
        Assert.Contains("rejected", report["error"]!.GetValue<string>());
        Assert.True(File.Exists(Path.Combine(output, "rejects.jsonl")));
    }

    // No --base: the tiny base model (context 256) is not even pre-trained before the settings are refused.
    [Theory]
    [InlineData("""{ "tokenize": { "max_length": 512 } }""",
        "'tokenize.max_length' is 512, longer than the base model's context of 256")]
    [InlineData("""{ "training": { "method": "lora", "lora": { "rank": 0 } } }""",
        "training.lora.rank must be a positive integer")]
    public async Task Run_refuses_settings_that_cannot_work_before_any_stage(string settings, string expected)
    {
        using var tmp = new TempDir();
        var config = Path.Combine(tmp.Path, "pipeline.json");
        await File.WriteAllTextAsync(config, settings);
        var home = Path.Combine(tmp.Path, "home");
        var (exit, _, stderr) = await CliRunner.Run("run", PipelineFixture.Malformed(tmp.Path), "--config", config,
            "--home", home);
        Assert.Equal(1, exit);
        Assert.Contains(expected, stderr);
        Assert.DoesNotContain("[pretrain]", stderr);
        Assert.DoesNotContain("[ingestion]", stderr);
        Assert.False(File.Exists(Path.Combine(home, "registry.db")));
    }

    [Fact]
    public async Task Run_with_an_unknown_settings_key_names_it()
    {
        using var tmp = new TempDir();
        var config = Path.Combine(tmp.Path, "pipeline.json");
        await File.WriteAllTextAsync(config, """{ "evaluation": { "suites": ["perplexity"], "limt": 3 } }""");
        var (exit, _, stderr) = await CliRunner.Run("run", PipelineFixture.Malformed(tmp.Path), "--config", config,
            "--home", Path.Combine(tmp.Path, "home"));
        Assert.Equal(1, exit);
        Assert.Contains("limt", stderr);
        Assert.Contains(config, stderr);
    }
}
