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
    public async Task Bleu_and_chrf_print_sacrebleus_score_line_with_several_references()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "p.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"prediction": "The dog bit the man.", "reference": ["The dog bit the man.", "The dog had bit the man."]}""",
            """{"prediction": "It wasn't surprising.", "reference": ["It was not unexpected.", "No one was surprised."]}""",
            """{"prediction": "The man had just bitten him.", "reference": ["The man bit him first.", "The man had bitten the dog."]}""",
        ]);
        var (exit, output, err) = await CliRunner.Run("score", "bleu", file);
        Assert.True(exit == 0, err);
        Assert.Equal(48.530827, JsonNode.Parse(output)!["aggregate"]!["bleu/score"]!["value"]!.GetValue<double>(), 5);
        Assert.Contains("BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/45.5/37.5",
            err);
        (exit, output, err) = await CliRunner.Run("score", "chrf", file);
        Assert.True(exit == 0, err);
        Assert.Contains("chrF2|nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.73", err);
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

    [Fact]
    public async Task Task_scores_json_answers_per_item_and_per_field_with_or_without_a_schema()
    {
        using var dir = new TempDir();
        var file = Path.Combine(dir.Path, "p.jsonl");
        await File.WriteAllLinesAsync(file,
        [
            """{"id": 1, "prediction": "{\"category\": \"billing\", \"priority\": \"high\"}", "reference": "{\"category\": \"billing\", \"priority\": \"high\"}"}""",
            """{"id": 2, "prediction": "billing, low", "reference": "{\"category\": \"billing\", \"priority\": \"low\"}"}""",
            """{"id": 3, "prediction": "{\"category\": \"shipping\"}", "reference": "{\"category\": \"shipping\", \"priority\": \"low\"}"}""",
            """{"id": 4, "prediction": "{\"category\": \"billing\", \"priority\": \"high\"}", "reference": "{\"category\": \"shipping\", \"priority\": \"high\"}"}""",
        ]);
        var (exit, output, err) = await CliRunner.Run("score", "task", file);
        Assert.True(exit == 0, err);
        var doc = JsonNode.Parse(output)!;
        var items = doc["items"]!.AsArray();
        Assert.Equal([true, false, false, false], items.Select(i => i!["exact_match"]!.GetValue<bool>()));
        Assert.Equal([true, false, true, true], items.Select(i => i!["json_valid"]!.GetValue<bool>()));
        Assert.Equal([true, false, false, true], items.Select(i => i!["schema_valid"]!.GetValue<bool>()));
        Assert.Equal(0.75, doc["aggregate"]!["task/json_valid"]!["value"]!.GetValue<double>());
        Assert.Equal(0.5, doc["aggregate"]!["task/category_accuracy"]!["value"]!.GetValue<double>());   // items 1 and 3
        Assert.Equal("inferred from the references", doc["options"]!["schema"]!.GetValue<string>());

        var schema = Path.Combine(dir.Path, "schema.json");
        await File.WriteAllTextAsync(schema,
            """{"properties": {"category": {"type": "string"}}, "required": ["category"]}""");
        (exit, output, err) = await CliRunner.Run("score", "task", file, "--schema", schema);
        Assert.True(exit == 0, err);
        doc = JsonNode.Parse(output)!;
        // priority is not required now
        Assert.Equal(0.75, doc["aggregate"]!["task/schema_valid"]!["value"]!.GetValue<double>());
        Assert.Null(doc["aggregate"]!["task/priority_accuracy"]);
    }
}
