// finetune evalsets add|list as an operator uses them on a local home, then finetune run on that home with a config
// whose gate includes the forgetting guard: MMLU and GSM8K subsets scored for base and candidate in the run itself.
using System.Text.Json.Nodes;
using FineTune.Evals.Gate;
using FineTune.Pipeline;
using FineTune.Pipeline.Tests;

namespace FineTune.Cli.Tests;

[Collection("training")]
public class EvalSetsCliTests
{
    [SkippableFact]
    public async Task Sets_added_once_are_listed_and_a_run_scores_its_gate_on_them()
    {
        var mmlu = SharedData.File("mmlu");
        var gsm8k = SharedData.File("gsm8k");
        using var tmp = new TempDir();
        var home = Path.Combine(tmp.Path, "home");

        var empty = await CliRunner.Run("evalsets", "list", "--home", home);
        Assert.True(empty.Exit == 0, empty.Err);
        Assert.Contains("(none: add one with finetune evalsets add NAME PATH --kind KIND)", empty.Out);
        var added = await CliRunner.Run("evalsets", "add", "mmlu", mmlu, "--kind", "mmlu", "--home", home);
        Assert.True(added.Exit == 0, added.Err);
        Assert.Matches(@"^added mmlu version 1 \(mmlu, 114 files, [0-9,]+ bytes, sha256 [0-9a-f]{12}\)", added.Out);
        Assert.Equal(0, (await CliRunner.Run("evalsets", "add", "gsm8k", gsm8k, "--kind", "gsm8k", "--home",
            home)).Exit);
        var again = await CliRunner.Run("evalsets", "add", "mmlu", mmlu, "--kind", "mmlu", "--home", home);
        Assert.Contains("mmlu: version 1 already holds these files", again.Out);
        var wrongKind = await CliRunner.Run("evalsets", "add", "x", gsm8k, "--kind", "mmmlu", "--home", home);
        Assert.Equal(1, wrongKind.Exit);
        Assert.Contains("--kind: 'mmmlu' is not one of mmlu, gsm8k, task, rubric.", wrongKind.Err);
        var list = await CliRunner.Run("evalsets", "list", "--home", home);
        Assert.Matches(@"\ngsm8k\s+1\s+gsm8k\s+2\s", list.Out);
        Assert.Matches(@"\nmmlu\s+1\s+mmlu\s+114\s", list.Out);

        var baseModel = await PipelineFixture.BaseModelAsync();
        var fast = PipelineFixture.FastSettings(epochs: 1);
        var settings = fast with
        {
            Evaluation = fast.Evaluation with
            {
                Suites = ["task", "mmlu", "gsm8k", "gsm8k_cot"],
                Mmlu = new MmluSetSettings { Set = "mmlu", Shots = 0, Sample = 8 },
                Gsm8k = new Gsm8kSetSettings { Set = "gsm8k", Shots = 0, Limit = 2, MaxNewTokens = 8 },
            },
            Gate = [new("task/json_valid", GateRuleKind.Improve, 0.0), new("mmlu/acc", GateRuleKind.NoRegression,
                1.0)],
        };
        var config = Path.Combine(tmp.Path, "pipeline.json");
        await File.WriteAllTextAsync(config, settings.ToJson());
        var output = Path.Combine(tmp.Path, "out");
        var run = await CliRunner.Run("run", await PipelineFixture.TicketsAsync(tmp.Path, 60, 31), "--base", baseModel,
            "--config", config, "--out", output, "--home", home, "--threads", "2");

        Assert.True(run.Exit == 0, run.Err + run.Out);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(output, "report.json")))!;
        foreach (var role in new[] { "candidate", "baseline" })
            foreach (var metric in new[] { "mmlu/acc", "gsm8k/exact_match,strict-match", "task/json_valid",
                "gsm8k_cot/exact_match,strict-match" })
                Assert.True(report["metrics"]![role]![metric] is not null, $"{role} {metric}");
        Assert.Contains(report["reasons"]!.AsArray(), r => r!.GetValue<string>().StartsWith("mmlu/acc: pass",
            StringComparison.Ordinal));
        Assert.Contains("evaluation: candidate mmlu 8/8", run.Err);

        // A config naming a set this home does not hold fails the run at evaluation, saying how to add it.
        await File.WriteAllTextAsync(config, (settings with
        {
            Evaluation = settings.Evaluation with { Mmlu = settings.Evaluation.Mmlu! with { Set = "mmlu-pro" } }
        }).ToJson());
        var missing = await CliRunner.Run("run", await PipelineFixture.TicketsAsync(tmp.Path, 60, 32), "--base",
            baseModel, "--config", config, "--out", Path.Combine(tmp.Path, "out2"), "--home", home, "--threads", "2");
        Assert.NotEqual(0, missing.Exit);
        Assert.Contains("no evaluation set 'mmlu-pro'; add it with `finetune evalsets add mmlu-pro PATH --kind mmlu`",
            missing.Err + missing.Out);
    }
}
