// chrF against sacrebleu 2.6.0: expected values from sacrebleu's test/test_chrf.py (effective-order cases, beta 3)
// and README (chrF2 = 59.73 on two references), and, where marked, what sacrebleu's source printed with defaults.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class ChrfTests
{
    [Theory]
    // test_chrf_eff_order: corpus_chrf(hyps, [refs], beta=3, eps_smoothing=False).
    [InlineData("a", "a", 100.0)]
    [InlineData("", "reference", 0.0)]
    [InlineData("a b c", "a b c", 100.0)]
    [InlineData("a b c", "abc", 100.0)]
    [InlineData("", "c", 0.0)]
    [InlineData("a|b", "a|c", 50.0)]
    [InlineData("aa", "ab", 25.0)]
    public void Effective_order_cases_of_sacrebleus_tests(string hypotheses, string references, double expected)
    {
        var hyps = hypotheses.Split('|');
        var refs = references.Split('|').Select(r => (IReadOnlyList<string>)[r]).ToList();
        Assert.Equal(expected, Chrf.Corpus(hyps, refs, beta: 3).Score, 1e-4);
    }

    [Fact]
    public void The_readme_corpus_with_two_references_scores_59_73()
    {
        string[] hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
        IReadOnlyList<IReadOnlyList<string>> references =
        [
            ["The dog bit the man.", "The dog had bit the man."],
            ["It was not unexpected.", "No one was surprised."],
            ["The man bit him first.", "The man had bitten the dog."],
        ];
        var score = Chrf.Corpus(hypotheses, references);
        Assert.Equal(59.72751782684763, score.Score, 1e-8);
        var signature = Chrf.Signature(references);
        Assert.Equal("nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0", signature);
        Assert.Equal("chrF2|nrefs:2|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0 = 59.73",
            score.Format(signature));
        // sacrebleu's source: one stream at a time, and sentence by sentence with both references.
        Assert.Equal(50.043063606582294, Chrf.Corpus(hypotheses, references.Select(r => (IReadOnlyList<string>)[r[0]])
            .ToList()).Score, 1e-8);
        Assert.Equal(51.70106133373036, Chrf.Corpus(hypotheses, references.Select(r => (IReadOnlyList<string>)[r[1]])
            .ToList()).Score, 1e-8);
        Assert.Equal(35.34635301425291, Chrf.Sentence(hypotheses[1], references[1]).Score, 1e-8);
        Assert.Equal(51.87740799504779, Chrf.Sentence(hypotheses[2], references[2]).Score, 1e-8);
    }

    [Theory]
    // test_chrf.py's sentences (Czech, German, English), scored by sacrebleu's source with every default.
    [InlineData("Co n\u00e1s nejv\u00edc tr\u00e1p\u00ed, proto\u017ee l\u00e9ka\u0159i si vyb\u00edraj\u00ed, kdo " +
        "bude \u017e\u00edt a kdo zem\u0159e.",
        "Nejv\u00edce smutn\u00ed jsme z toho, \u017ee mus\u00edme rozhodovat " +
        "o tom, kdo bude \u017e\u00edt a kdo zem\u0159e.", 39.14081690316369)]
    [InlineData(" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. ",
        "Das Verh\u00e4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich.", 64.818123726097)]
    [InlineData(" risk assessment must be made of those who are qualified and expertise in the sector - these are " +
        "the scientists .", "risk assessment has to be undertaken by those who are qualified and expert in that area " +
        "- that is the scientists .", 63.43165368117263)]
    public void Default_scores_of_sacrebleus_test_sentences(string hypothesis, string reference, double expected) =>
        Assert.Equal(expected, Chrf.Sentence(hypothesis, [reference]).Score, 1e-8);

    [Fact]
    public void A_character_outside_the_basic_plane_counts_once()
    {
        // "a😀" vs "a😀": 2 characters, so orders 1 and 2 only; UTF-16 would see 3 units and a third order.
        var stats = Chrf.Sentence("a\U0001F600", ["a\U0001F600"]).Statistics;
        Assert.Equal([2L, 2, 2, 1, 1, 1, 0, 0, 0], stats[..9]);
    }

    [Fact]
    public void The_best_reference_is_chosen_per_segment()
    {
        var score = Chrf.Sentence("abc", ["xyz", "abc"]);
        Assert.Equal(100.0, score.Score, 1e-9);
    }
}
