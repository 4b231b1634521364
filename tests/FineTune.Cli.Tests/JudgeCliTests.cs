// `finetune eval --suite judge` against a local OpenAI-compatible server: rubric grading, and pairwise comparison
// with a baseline model where a judge that always prefers the first answer yields only ties.
using FineTune.Evals;
using FineTune.Evals.Tests.Judging;

namespace FineTune.Cli.Tests;

public class JudgeCliTests
{
    static async Task<(string Model, string Prepared)> Setup(TempDir dir)
    {
        string model = Path.Combine(dir.Path, "model"), raw = Path.Combine(dir.Path, "raw"),
            prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0,
            (await CliRunner.Run("convert", "llama2c", SharedData.File("models/stories260K/stories260K.bin"), model,
            "--tokenizer", SharedData.File("models/stories260K/tok512.bin"))).Exit);
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "200", "--test", "10")).Exit);
        Assert.Equal(0,
            (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);
        return (model, prepared);
    }

    static string Config(TempDir dir, FakeJudgeServer server)
    {
        var path = Path.Combine(dir.Path, "judge.json");
        var judge = new System.Text.Json.Nodes.JsonObject
        {
            ["Endpoint"] = server.BaseUrl, ["Model"] = "fake-judge",
            ["ApiKey"] = "k", ["MaxRetries"] = 1
        };
        File.WriteAllText(path, new System.Text.Json.Nodes.JsonObject { ["Judge"] = judge }.ToJsonString());
        return path;
    }

    [SkippableFact]
    public async Task Rubric_grading_records_the_judges_scores()
    {
        using var dir = new TempDir();
        var (model, prepared) = await Setup(dir);
        await using var server = await FakeJudgeServer.StartAsync((_, _) => Task.FromResult(FakeJudgeServer.Score(7)));
        var results = Path.Combine(dir.Path, "results.json");
        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "judge", "--data", prepared,
            "--judge-config", Config(dir, server),
            "--limit", "3", "--max-new-tokens", "4", "--out", results);
        Assert.True(exit == 0, output + err);
        var score = EvalReport.Load(results).Metrics.Single(m => m.Name == "judge/score");
        Assert.Equal(7, score.Value);
        Assert.Equal(3, score.Count);
        Assert.Equal(3, server.Requests);
    }

    [SkippableFact]
    public async Task Pairwise_against_a_baseline_counts_a_position_biased_judge_as_ties()
    {
        using var dir = new TempDir();
        var (model, prepared) = await Setup(dir);
        await using var server = await FakeJudgeServer.StartAsync((_,
            _) => Task.FromResult(FakeJudgeServer.Reply("""{"winner": "1"}""")));
        var results = Path.Combine(dir.Path, "results.json");
        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "judge", "--data", prepared,
            "--judge-config", Config(dir, server),
            "--baseline", model, "--limit", "2", "--max-new-tokens", "4", "--out", results);
        Assert.True(exit == 0, output + err);
        var metrics = EvalReport.Load(results).Metrics.ToDictionary(m => m.Name);
        Assert.Equal(1.0, metrics["judge/tie_rate"].Value);
        Assert.Equal(4, server.Requests);   // two pairs, both orders
    }
}
