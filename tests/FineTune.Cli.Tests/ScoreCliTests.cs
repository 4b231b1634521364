// `finetune score`: ROUGE and GSM8K over existing predictions, items in input order, a bad line named.
using System.Text.Json.Nodes;

namespace FineTune.Cli.Tests;

public class ScoreCliTests
{
    [Fact]
    public async Task Rouge_scores_each_line_and_aggregates()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "p.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"id": "a", "prediction": "the cat sat", "reference": "the cat sat"}""",
            """{"id": "b", "prediction": "a dog", "reference": "the cat sat"}""",
        ]);
        var (exit, output, err) = await CliRunner.Run("score", "rouge", file);
        Assert.True(exit == 0, err);
        var doc = JsonNode.Parse(output)!;
        Assert.Equal("a", doc["items"]![0]!["id"]!.GetValue<string>());
        Assert.Equal(1.0, doc["items"]![0]!["rouge1"]!["fmeasure"]!.GetValue<double>());
        Assert.Equal(0.0, doc["items"]![1]!["rougeL"]!["fmeasure"]!.GetValue<double>());
        Assert.Equal(0.5, doc["aggregate"]!["rouge1/fmeasure"]!["value"]!.GetValue<double>(), 6);
    }

    [Fact]
    public async Task Gsm8k_reports_strict_and_flexible_correctness()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "p.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"prediction": "3 + 4 = 7\n#### 7", "reference": "so 7\n#### 7"}""",
            """{"prediction": "I think it is $1,200.", "reference": "#### 1200"}""",
        ]);
        var (exit, output, err) = await CliRunner.Run("score", "gsm8k", file);
        Assert.True(exit == 0, err);
        var items = JsonNode.Parse(output)!["items"]!.AsArray();
        Assert.True(items[0]!["strict_correct"]!.GetValue<bool>());
        Assert.False(items[1]!["strict_correct"]!.GetValue<bool>());
        Assert.True(items[1]!["flexible_correct"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_line_without_reference_is_named()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "p.jsonl");
        await File.WriteAllLinesAsync(file, ["""{"prediction": "x", "reference": "y"}""", """{"prediction": "x"}"""]);
        var (exit, _, err) = await CliRunner.Run("score", "rouge", file);
        Assert.Equal(1, exit);
        Assert.Contains("p.jsonl:2", err);
        Assert.Contains("reference", err);
    }
}
