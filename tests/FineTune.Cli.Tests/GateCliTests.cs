// `finetune gate`: promote exits 0, reject exits 2, and results with different prompt formats are refused.
using FineTune.Evals;

namespace FineTune.Cli.Tests;

public class GateCliTests
{
    static string Write(TempDir dir, string name, string content)
    {
        var path = Path.Combine(dir.Path, name);
        File.WriteAllText(path, content);
        return path;
    }

    static string Results(TempDir dir, string name, double task, double mmlu, string mmluFormat = "mmlu-harness-v1") =>
        Write(dir, name, new EvalReport(name, DateTimeOffset.UnixEpoch,
        [
            new SuiteResult("task", "task-v1", [new MetricValue("task/exact_match", task, 5000)]),
            new SuiteResult("mmlu", mmluFormat, [new MetricValue("mmlu/acc", mmlu, 14042)]),
        ]).ToJson());

    const string Rules =
        """[{"metric": "task/exact_match", "kind": "improve", "threshold": 0.02}, {"metric": "mmlu/acc", "kind": "no_regression", "threshold": 0.01}]""";

    [Fact]
    public async Task Better_candidate_is_promoted_and_the_decision_is_written()
    {
        using var dir = new TempDir();
        var (exit, output, err) = await CliRunner.Run("gate", Results(dir, "base.json", 0.50, 0.40),
            Results(dir, "cand.json", 0.60, 0.40),
            "--rules", Write(dir, "rules.json", Rules), "--out", Path.Combine(dir.Path, "gate"));
        Assert.True(exit == 0, output + err);
        Assert.Contains("promote", output);
        Assert.True(File.Exists(Path.Combine(dir.Path, "gate", "gate.json")));
    }

    [Fact]
    public async Task Forgetting_candidate_is_rejected_with_exit_2()
    {
        using var dir = new TempDir();
        var (exit, output, _) = await CliRunner.Run("gate", Results(dir, "base.json", 0.50, 0.40),
            Results(dir, "cand.json", 0.60, 0.30),
            "--rules", Write(dir, "rules.json", Rules));
        Assert.Equal(2, exit);
        Assert.Contains("forgot", output);
    }

    [Fact]
    public async Task Results_with_different_prompt_formats_are_refused()
    {
        using var dir = new TempDir();
        var (exit, _, err) = await CliRunner.Run("gate", Results(dir, "base.json", 0.50, 0.40),
            Results(dir, "cand.json", 0.60, 0.40, "mmlu-harness-v2"),
            "--rules", Write(dir, "rules.json", Rules));
        Assert.Equal(1, exit);
        Assert.Contains("mmlu: mmlu-harness-v1 vs mmlu-harness-v2", err);
    }

    [Fact]
    public async Task A_rule_with_an_unknown_kind_is_explained()
    {
        using var dir = new TempDir();
        var (exit, _, err) = await CliRunner.Run("gate", Results(dir, "base.json", 0.5, 0.4),
            Results(dir, "cand.json", 0.6, 0.4),
            "--rules", Write(dir, "rules.json", """[{"metric": "mmlu/acc", "kind": "better", "threshold": 0.1}]"""));
        Assert.Equal(1, exit);
        Assert.Contains("no_regression", err);
    }
}
