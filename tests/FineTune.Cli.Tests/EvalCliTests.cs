// `finetune eval` end to end on stories260K (converted with its tokenizer): MMLU, GSM8K, ROUGE and perplexity run,
// and the results file carries every suite's metrics and prompt-format version for the gate.
using FineTune.Evals;

namespace FineTune.Cli.Tests;

public class EvalCliTests
{
    [SkippableFact]
    public async Task Suites_run_and_write_a_results_file_the_gate_can_read()
    {
        var checkpoint = SharedData.File("models/stories260K/stories260K.bin");
        var tokenizer = SharedData.File("models/stories260K/tok512.bin");
        var mmlu = SharedData.File("mmlu");
        var gsm8k = SharedData.File("gsm8k");
        using var dir = new TempDir();
        string model = Path.Combine(dir.Path, "model"), raw = Path.Combine(dir.Path, "raw"),
            prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0, (await CliRunner.Run("convert", "llama2c", checkpoint, model, "--tokenizer", tokenizer)).Exit);
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "200", "--test", "10")).Exit);
        Assert.Equal(0,
            (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);

        var results = Path.Combine(dir.Path, "results.json");
        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "mmlu,gsm8k,rouge,perplexity",
            "--limit", "2", "--shots", "0",
            "--mmlu", mmlu, "--gsm8k", gsm8k, "--data", prepared, "--max-new-tokens", "8", "--out", results);
        Assert.True(exit == 0, output + err);
        Assert.Contains("mmlu: ", err);   // progress goes to stderr, plain lines when it is not a terminal
        Assert.DoesNotContain("\u001b[", err);

        var report = EvalReport.Load(results);
        Assert.Equal(["mmlu", "gsm8k", "rouge", "perplexity"], report.Suites.Select(s => s.Suite));
        var metrics = report.Metrics.ToDictionary(m => m.Name);
        Assert.Equal(57 * 2, metrics["mmlu/acc"].Count);                // two questions from each of the 57 subjects
        Assert.InRange(metrics["mmlu/acc"].Value, 0, 1);
        Assert.Equal(2, metrics["gsm8k/exact_match,strict-match"].Count);
        Assert.True(metrics["perplexity/perplexity"].Value > 1);
        Assert.Contains("rouge/rougeL", metrics.Keys);
    }

    // stories260K with its config cut to 64 positions: few-shot prompts no longer fit.
    static async Task<string> ShortContextModel(TempDir dir)
    {
        var model = Path.Combine(dir.Path, "model64");
        Assert.Equal(0,
            (await CliRunner.Run("convert", "llama2c", SharedData.File("models/stories260K/stories260K.bin"), model,
            "--tokenizer", SharedData.File("models/stories260K/tok512.bin"))).Exit);
        var configPath = Path.Combine(model, "config.json");
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!;
        config["max_position_embeddings"] = 64;
        File.WriteAllText(configPath, config.ToJsonString());
        return model;
    }

    [SkippableFact]
    public async Task Prompts_longer_than_the_context_are_truncated_and_counted_not_fatal()
    {
        using var dir = new TempDir();
        var model = await ShortContextModel(dir);
        var mmlu = SharedData.File("mmlu");
        var gsm8k = SharedData.File("gsm8k");
        var results = Path.Combine(dir.Path, "results.json");

        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "mmlu,gsm8k", "--limit", "3",
            "--shots", "1",
            "--mmlu", mmlu, "--gsm8k", gsm8k, "--max-new-tokens", "16", "--out", results);

        Assert.True(exit == 0, output + err);
        var report = EvalReport.Load(results);
        var tokenizer = FineTune.Text.TokenizerLoader.Load(model);
        // Expected counts from the harness's rules, computed here item by item.
        var train = Gsm8k.Load(Path.Combine(gsm8k, "train.jsonl"));
        var room = PromptFit.Budget(64, 16).PromptRoom;
        int gsmLong = Gsm8k.Load(Path.Combine(gsm8k, "test.jsonl")).Take(3)
            .Count(p => tokenizer.Encode(Gsm8k.Prompt(p, train, new Gsm8kOptions { Shots = 1 }), false).Count > room);
        var dev = Mmlu.Load(mmlu, "dev");
        int mmluLong = Mmlu.Load(mmlu,
            "test").Sum(subject => subject.Value.Take(3).Count(item => Enumerable.Range(0, 4).Any(c =>
        {
            var pair = HarnessEncoding.Pair(tokenizer, MmluPrompts.Context(item, dev[subject.Key].Take(1).ToList()),
                MmluPrompts.Continuation(c), false);
            return pair.Context.Count + pair.Continuation.Count - 1 > 64;
        })));
        var (mmluResult, gsmResult) = (report.Suites.Single(s => s.Suite == "mmlu"),
            report.Suites.Single(s => s.Suite == "gsm8k"));
        Assert.Equal((57 * 3, mmluLong), (mmluResult.Items, mmluResult.Truncated));
        Assert.Equal((3, gsmLong), (gsmResult.Items, gsmResult.Truncated));
        Assert.True(mmluLong > 0 && gsmLong > 0);
        Assert.Contains($"gsm8k: {gsmLong} of 3 items were longer than the context of 64 tokens", output);
        Assert.Contains("warning: most mmlu items did not fit", err);
        Assert.Equal(57 * 3, report.Metrics.Single(m => m.Name == "mmlu/acc").Count);
    }

    [SkippableFact]
    public async Task A_failing_suite_fails_alone_and_the_others_results_are_written()
    {
        using var dir = new TempDir();
        var model = await ShortContextModel(dir);
        string raw = Path.Combine(dir.Path, "raw"), prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "60", "--test", "10")).Exit);
        Assert.Equal(0,
            (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);
        var judgeConfig = Path.Combine(dir.Path, "judge.json");
        using (var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            closed.Start();
            var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
            closed.Stop();   // nothing listens there any more: every request is refused
            File.WriteAllText(judgeConfig,
                $$"""{ "Judge": { "Endpoint": "http://127.0.0.1:{{port}}/v1", "Model": "m", "ApiKey": "k", "MaxRetries": 1 } }""");
        }
        var results = Path.Combine(dir.Path, "results.json");

        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "judge,mmlu", "--limit", "1",
            "--shots", "0",
            "--mmlu", SharedData.File("mmlu"), "--data", prepared, "--judge-config", judgeConfig, "--max-new-tokens",
                "4", "--out", results);

        Assert.Equal(1, exit);
        Assert.Contains("error: suite judge failed: the judge at http://127.0.0.1:", err);
        Assert.Contains("1 of 2 suites failed (judge)", err);
        var report = EvalReport.Load(results);
        var judge = report.Suites.Single(s => s.Suite == "judge");
        Assert.Empty(judge.Metrics);
        Assert.Contains("answered no request", judge.Error);
        Assert.Equal(57, report.Metrics.Single(m => m.Name == "mmlu/acc").Count);
    }

    [SkippableFact]
    public async Task The_same_command_run_again_reuses_the_items_already_scored()
    {
        using var dir = new TempDir();
        var model = await ShortContextModel(dir);
        var results = Path.Combine(dir.Path, "results.json");
        string[] args = ["eval", model, "--suite", "mmlu", "--limit", "2", "--shots", "0", "--mmlu",
            SharedData.File("mmlu"), "--out", results];

        var first = await CliRunner.Run(args);
        Assert.True(first.Exit == 0, first.Err);
        var items = File.ReadAllLines(Path.Combine(dir.Path, "results.items.jsonl"));
        Assert.Equal(57 * 2, items.Length);
        var before = File.ReadAllText(results);

        var second = await CliRunner.Run(args);
        Assert.True(second.Exit == 0, second.Err);
        Assert.Equal(items, File.ReadAllLines(Path.Combine(dir.Path, "results.items.jsonl")));   // nothing scored again
        Assert.Equal(EvalReport.Load(results).Metrics, EvalReport.Parse(before).Metrics);
    }

    [Fact]
    public async Task An_unknown_suite_is_named()
    {
        var (exit, _, err) = await CliRunner.Run("eval", "/nonexistent", "--suite", "mmlu,hellaswag");
        Assert.Equal(1, exit);
        Assert.Contains("'hellaswag'", err);
    }
}
