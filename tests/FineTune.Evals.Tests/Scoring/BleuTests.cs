// BLEU against sacrebleu 2.6.0: the expected values are those of sacrebleu's own tests (test/test_bleu.py,
// test/test_sentence_bleu.py) and README, and, where marked, what sacrebleu's source printed for the same inputs.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class BleuTests
{
    // sacrebleu's README and test_bleu.py fixture: three hypotheses, two reference streams.
    static readonly string[] Hypotheses = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
    static readonly string[] First = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."];
    static readonly string[] Second = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."];

    static IReadOnlyList<IReadOnlyList<string>> Segments(params string[][] streams) =>
        Enumerable.Range(0, streams[0].Length).Select(i => (IReadOnlyList<string>)streams.Select(s => s[i]).ToList())
            .ToList();

    [Fact]
    public void The_readme_corpus_with_two_references_scores_48_53()
    {
        var score = Bleu.Corpus(Hypotheses, Segments(First, Second));
        Assert.Equal(48.530827009929865, score.Score, 1e-8);
        Assert.Equal([14L, 7, 5, 3], score.Statistics.Correct);
        Assert.Equal([17L, 14, 11, 8], score.Statistics.Total);
        Assert.Equal((17L, 18L), (score.Statistics.HypothesisLength, score.Statistics.ReferenceLength));
        var signature = Bleu.Signature(Segments(First, Second), effectiveOrder: false);
        Assert.Equal("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0", signature);
        Assert.Equal("BLEU|nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0 = 48.53 82.4/50.0/45.5/37.5 " +
            "(BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)", score.Format(signature));
    }

    [Theory]
    // sacrebleu's source on one reference stream at a time.
    [InlineData(0, 45.06750632106114)]
    [InlineData(1, 28.330553664429278)]
    public void One_reference_stream(int stream, double expected)
    {
        var score = Bleu.Corpus(Hypotheses, Segments(stream == 0 ? First : Second));
        Assert.Equal(expected, score.Score, 1e-8);
    }

    [Fact]
    public void Empty_hypotheses_score_zero() =>
        Assert.Equal(0.0, Bleu.Corpus(["", "", ""], Segments(First, Second)).Score);

    [Fact]
    public void A_missing_reference_given_as_empty_text_lengthens_nothing_but_matches_nothing()
    {
        // README: the first segment's first reference empty scores 29.44 (82.4/42.9/27.3/12.5, ref_len 19).
        string[] first = ["", "It was not unexpected.", "The man bit him first."];
        var score = Bleu.Corpus(Hypotheses, Segments(first, Second));
        Assert.Equal("29.44", score.Score.ToString("F2", System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(19, score.Statistics.ReferenceLength);
    }

    [Fact]
    public void Statistics_clip_matches_to_the_reference()
    {
        // test_statistics: counts [4,2,1,0], totals [6,5,4,3].
        var s = Bleu.Statistics("am I am a character sequence", ["I am a symbol string sequence a a"]);
        Assert.Equal([4L, 2, 1, 0], s.Correct);
        Assert.Equal([6L, 5, 4, 3], s.Total);
    }

    [Fact]
    public void Statistics_without_zero_counts_score_as_sacrebleu()
    {
        // test_scoring: correct [9,7,5,3], total [10,8,6,4], sys_len = ref_len = 11 -> 0.8375922397.
        var s = new BleuStatistics(11, 11, [9, 7, 5, 3], [10, 8, 6, 4]);
        Assert.Equal(83.75922397, Bleu.Compute(s, effectiveOrder: false).Score, 1e-6);
    }

    [Fact]
    public void Sentence_bleu_uses_exp_smoothing_and_the_effective_order()
    {
        // test_sentence_bleu.py, 13a + exp: 8.493 (counts [5,2,0,0], totals [14,13,12,11], lengths 14 and 10).
        var reference = "produc\u0163ia de zah\u0103r brut se exprim\u0103 \u00een zah\u0103r alb;";
        var hypothesis = "Produc\u021bia de zah\u0103r prim\u0103 va fi exprimat\u0103 \u00een ceea ce " +
            "prive\u0219te zah\u0103rul alb;";
        var score = Bleu.Sentence(hypothesis, [reference]);
        Assert.Equal(8.493098745313148, score.Score, 1e-8);
        Assert.Equal([5L, 2, 0, 0], score.Statistics.Correct);
        Assert.Equal(0.0, Bleu.Sentence("this is a cat", ["okay thanks"]).Score);
    }

    [Theory]
    // sacrebleu's source (sentence_bleu / corpus_bleu with defaults).
    [InlineData("It wasn't surprising.", "It was not unexpected.|No one was surprised.", 14.794015674776452, null)]
    [InlineData("The man had just bitten him.", "The man bit him first.|The man had bitten the dog.",
        29.071536848410968, null)]
    [InlineData("The man had just bitten him.", "The man bit him first.", 15.619699684601283, 15.619699684601283)]
    [InlineData("this is a fest", "this is a test", 59.460355750136046, 59.460355750136046)]
    [InlineData("a b c", "a b c", 100.00000000000004, 0.0)]
    [InlineData("The cat", "The cat sat", 60.653065971263366, 0.0)]
    [InlineData("", "reference here", 0.0, 0.0)]
    public void Sentence_and_corpus_scores(string hypothesis, string references, double sentence, double? corpus)
    {
        var refs = references.Split('|');
        Assert.Equal(sentence, Bleu.Sentence(hypothesis, refs).Score, 1e-8);
        if (corpus is { } c)
            Assert.Equal(c, Bleu.Corpus([hypothesis], [refs]).Score, 1e-8);
    }

    [Theory]
    // The 13a tokenizer on sacrebleu's own regexes (outputs printed by sacrebleu's tokenizer_13a.py).
    [InlineData("Hello, world! 3.14 and 1,000 -- 5-3 &quot;x&quot; &amp; &lt;y&gt; <skipped>(a) [b] {c} a/b $5 50% " +
        "e-mail it's", "Hello , world ! 3.14 and 1,000 -- 5 - 3 \" x \" & < y > ( a ) [ b ] { c } a / b $ 5 50 % " +
        "e-mail it's")]
    [InlineData("a.. b,, 1.5. .5 5. ,x x,", "a . . b , , 1.5 . . 5 5 . , x x ,")]
    [InlineData("U.S.A. 2-3 pm; 10:30", "U . S . A . 2 - 3 pm ; 10 : 30")]
    [InlineData("line-\nbreak and\nnewline", "linebreak and newline")]
    [InlineData("x&amp;quot;y", "x & quot ; y")]
    [InlineData("  multiple   spaces\there", "multiple spaces here")]
    public void Tokenizer_13a(string input, string expected) =>
        Assert.Equal(expected, SacreBleuText.Tokenize13a(input));

    [Fact]
    public void A_varying_number_of_references_is_signed_var()
    {
        IReadOnlyList<IReadOnlyList<string>> references = [["a"], ["b", "c"]];
        Assert.StartsWith("nrefs:var|", Bleu.Signature(references, effectiveOrder: true));
    }
}
