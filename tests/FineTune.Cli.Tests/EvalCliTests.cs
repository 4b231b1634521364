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
        string model = Path.Combine(dir.Path, "model"), raw = Path.Combine(dir.Path, "raw"), prepared = Path.Combine(dir.Path, "prepared");
        Assert.Equal(0, (await CliRunner.Run("convert", "llama2c", checkpoint, model, "--tokenizer", tokenizer)).Exit);
        Assert.Equal(0, (await CliRunner.Run("data", "demo", "--out", raw, "--train", "200", "--test", "10")).Exit);
        Assert.Equal(0, (await CliRunner.Run("data", "prepare", Path.Combine(raw, "train.jsonl"), "--out", prepared)).Exit);

        var results = Path.Combine(dir.Path, "results.json");
        var (exit, output, err) = await CliRunner.Run("eval", model, "--suite", "mmlu,gsm8k,rouge,perplexity", "--limit", "2", "--shots", "0",
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

    [Fact]
    public async Task An_unknown_suite_is_named()
    {
        var (exit, _, err) = await CliRunner.Run("eval", "/nonexistent", "--suite", "mmlu,hellaswag");
        Assert.Equal(1, exit);
        Assert.Contains("'hellaswag'", err);
    }
}
