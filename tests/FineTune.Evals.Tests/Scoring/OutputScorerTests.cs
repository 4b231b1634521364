// `finetune score` document shape: one item per line in order with the documented fields, aggregates with
// intervals, and errors that name file:line and the missing field.
using System.Text.Json.Nodes;
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class OutputScorerTests
{
    static string Write(TempDir dir, params string[] lines)
    {
        var path = Path.Combine(dir.Path, "outputs.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    [Fact]
    public void Rouge_items_and_aggregate()
    {
        using var dir = new TempDir();
        var path = Write(dir,
            """{"id": "a", "prediction": "the cat lay on the mat", "reference": "the cat sat on the mat"}""",
            "",
            """{"prediction": "cats running", "reference": "cat runs"}""");
        var doc = OutputScorer.Score(ScoreKind.Rouge, path, stemmer: true);

        var items = doc["items"]!.AsArray();
        Assert.Equal(2, items.Count);
        Assert.Equal("a", items[0]!["id"]!.GetValue<string>());
        Assert.Null(items[1]!["id"]);
        Assert.Equal(3, items[1]!["line"]!.GetValue<int>());
        foreach (var name in new[] { "rouge1", "rouge2", "rougeL", "rougeLsum" })
            foreach (var part in new[] { "precision", "recall", "fmeasure" })
                Assert.NotNull(items[0]![name]![part]);
        Assert.Equal(5.0 / 6, items[0]!["rouge1"]!["fmeasure"]!.GetValue<double>(), 1e-12);
        Assert.Equal(1.0, items[1]!["rouge1"]!["fmeasure"]!.GetValue<double>(), 1e-12);

        var agg = doc["aggregate"]!["rouge1/fmeasure"]!;
        Assert.Equal((5.0 / 6 + 1) / 2, agg["value"]!.GetValue<double>(), 1e-12);
        Assert.Equal(2, agg["count"]!.GetValue<long>());
        Assert.True(agg["low"]!.GetValue<double>() <= agg["value"]!.GetValue<double>());
        Assert.Equal(12, OutputScorer.Metrics(doc).Count);
        Assert.NotNull(JsonNode.Parse(doc.ToJsonString()));   // serialises (no NaN)
    }

    [Fact]
    public void Gsm8k_items_and_accuracies()
    {
        using var dir = new TempDir();
        var path = Write(dir,
            """{"id": 7, "prediction": "2 + 2 = 4\n#### 4", "reference": "2+2=4\n#### 4"}""",
            """{"prediction": "It is $1,234.", "reference": "1234"}""");
        var doc = OutputScorer.Score(ScoreKind.Gsm8k, path);
        var items = doc["items"]!.AsArray();
        Assert.Equal(7, items[0]!["id"]!.GetValue<int>());
        Assert.Equal("4", items[0]!["strict"]!.GetValue<string>());
        Assert.True(items[0]!["strict_correct"]!.GetValue<bool>());
        Assert.True(items[0]!["flexible_correct"]!.GetValue<bool>());
        Assert.Null(items[1]!["strict"]);
        Assert.False(items[1]!["strict_correct"]!.GetValue<bool>());
        Assert.Equal("$1,234.", items[1]!["flexible"]!.GetValue<string>());
        Assert.True(items[1]!["flexible_correct"]!.GetValue<bool>());
        Assert.Equal(0.5, doc["aggregate"]!["gsm8k/exact_match,strict-match"]!["value"]!.GetValue<double>());
        Assert.Equal(1.0, doc["aggregate"]!["gsm8k/exact_match,flexible-extract"]!["value"]!.GetValue<double>());
    }

    [Theory]
    [InlineData("""{"prediction": "x"}""", "outputs.jsonl:2: missing field \"reference\"")]
    [InlineData("""{"reference": "x"}""", "outputs.jsonl:2: missing field \"prediction\"")]
    [InlineData("""{"prediction": 3, "reference": "x"}""", "outputs.jsonl:2: field \"prediction\" must be a string")]
    [InlineData("""not json""", "outputs.jsonl:2: not valid JSON")]
    [InlineData("""[1]""", "outputs.jsonl:2: expected a JSON object")]
    public void Bad_line_names_file_line_and_field(string bad, string message)
    {
        using var dir = new TempDir();
        var path = Write(dir, """{"prediction": "a", "reference": "a"}""", bad);
        var e = Assert.Throws<InvalidDataException>(() => OutputScorer.Score(ScoreKind.Rouge, path));
        Assert.Contains(message, e.Message);
    }
}
