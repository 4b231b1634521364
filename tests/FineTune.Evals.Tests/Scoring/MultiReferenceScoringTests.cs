// `finetune score bleu|chrf` and several references per line: corpus scores equal sacrebleu's (README example), items
// carry sentence scores, ROUGE takes the best reference per variant, and a list is refused where one answer is meant.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class MultiReferenceScoringTests
{
    static string Write(TempDir dir, params string[] lines)
    {
        var path = Path.Combine(dir.Path, "outputs.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    static string ReadmeCorpus(TempDir dir) => Write(dir,
        """{"id": 1, "prediction": "The dog bit the man.", "reference": ["The dog bit the man.", "The dog had bit the man."]}""",
        """{"id": 2, "prediction": "It wasn't surprising.", "reference": ["It was not unexpected.", "No one was surprised."]}""",
        """{"id": 3, "prediction": "The man had just bitten him.", "reference": ["The man bit him first.", "The man had bitten the dog."]}""");

    [Fact]
    public void Bleu_of_a_file_is_sacrebleus_corpus_bleu_with_its_signature()
    {
        using var dir = new TempDir();
        var doc = OutputScorer.Score(ScoreKind.Bleu, ReadmeCorpus(dir));
        var bleu = doc["aggregate"]!["bleu/score"]!;
        Assert.Equal(48.530827009929865, bleu["value"]!.GetValue<double>(), 1e-8);
        Assert.True(bleu["low"]!.GetValue<double>() <= bleu["value"]!.GetValue<double>());
        Assert.True(bleu["high"]!.GetValue<double>() >= bleu["value"]!.GetValue<double>());
        Assert.Equal("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0",
            doc["options"]!["signature"]!.GetValue<string>());
        Assert.StartsWith("BLEU|nrefs:2|", doc["options"]!["score_line"]!.GetValue<string>());
        var items = doc["items"]!.AsArray();
        Assert.Equal(100.00000000000004, items[0]!["bleu"]!.GetValue<double>(), 1e-8);
        Assert.Equal(14.794015674776452, items[1]!["bleu"]!.GetValue<double>(), 1e-8);
        Assert.Equal(29.071536848410968, items[2]!["bleu"]!.GetValue<double>(), 1e-8);
    }

    [Fact]
    public void Chrf_of_a_file_is_sacrebleus_corpus_chrf()
    {
        using var dir = new TempDir();
        var doc = OutputScorer.Score(ScoreKind.Chrf, ReadmeCorpus(dir));
        Assert.Equal(59.72751782684763, doc["aggregate"]!["chrf/score"]!["value"]!.GetValue<double>(), 1e-8);
        Assert.Equal("chrF2|nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.73",
            doc["options"]!["score_line"]!.GetValue<string>());
        Assert.Equal(35.34635301425291, doc["items"]![1]!["chrf"]!.GetValue<double>(), 1e-8);
    }

    [Fact]
    public void Rouge_takes_the_best_reference_per_variant()
    {
        using var dir = new TempDir();
        var path = Write(dir,
            """{"prediction": "the cat sat on the mat", "reference": ["a dog ran", "the cat sat on the mat"]}""");
        var doc = OutputScorer.Score(ScoreKind.Rouge, path);
        Assert.Equal(1.0, doc["items"]![0]!["rougeL"]!["fmeasure"]!.GetValue<double>(), 1e-12);
    }

    [Theory]
    [InlineData(ScoreKind.Task)]
    [InlineData(ScoreKind.Gsm8k)]
    public void A_list_of_references_is_refused_where_one_answer_is_scored(ScoreKind kind)
    {
        using var dir = new TempDir();
        var path = Write(dir, """{"prediction": "4", "reference": "4"}""",
            """{"prediction": "4", "reference": ["4", "four"]}""");
        var error = Assert.Throws<InvalidDataException>(() => OutputScorer.Score(kind, path));
        Assert.Contains(":2: field \"reference\" is a list", error.Message);
    }

    [Theory]
    [InlineData("""{"prediction": "a", "reference": []}""", "empty list")]
    [InlineData("""{"prediction": "a", "reference": ["b", 3]}""", "a string or a list of strings")]
    public void Bad_reference_lists_name_the_line(string line, string expected)
    {
        using var dir = new TempDir();
        var error = Assert.Throws<InvalidDataException>(() => OutputScorer.Score(ScoreKind.Bleu, Write(dir, line)));
        Assert.Contains(":1: field \"reference\"", error.Message);
        Assert.Contains(expected, error.Message);
    }
}
