// ROUGE on cases small enough to compute by hand (the arithmetic is in the comments), tokenization, and the
// summary-level Lsum union/double-counting rules that distinguish rouge_score from a naive per-sentence LCS.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class RougeTests
{
    static void Near(double expected, double actual) => Assert.Equal(expected, actual, 1e-12);

    static void Near(RougeScore s, double p, double r, double f)
    {
        Near(p, s.Precision);
        Near(r, s.Recall);
        Near(f, s.FMeasure);
    }

    [Fact]
    public void Tokenize_lowercases_splits_on_non_alphanumerics_and_stems_only_long_tokens()
    {
        Assert.Equal(["hello", "world", "it", "s", "2024"], Rouge.Tokenize("Hello, World! It's 2024.", stem: false));
        // "was" has 3 characters and is not stemmed (the stemmer would give "wa"); "cats" -> "cat", "running" -> "run".
        Assert.Equal(["the", "cat", "was", "run"], Rouge.Tokenize("The cats was running", stem: true));
        Assert.Empty(Rouge.Tokenize("  ... !!! ", stem: false));
    }

    [Fact]
    public void One_substituted_word()
    {
        // ref  = the cat sat on the mat (6 tokens), pred = the cat lay on the mat (6 tokens)
        // unigrams: the min(2,2)=2 + cat 1 + on 1 + mat 1 = 5          -> P = R = F = 5/6
        // bigrams: ref {the cat, cat sat, sat on, on the, the mat}, pred {the cat, cat lay, lay on, on the, the mat}
        //          overlap the cat, on the, the mat = 3 of 5            -> P = R = F = 3/5
        // LCS: the cat on the mat = 5                                    -> P = R = F = 5/6
        var s = Rouge.Score("The cat sat on the mat.", "the cat lay on the mat");
        Near(s.Rouge1, 5.0 / 6, 5.0 / 6, 5.0 / 6);
        Near(s.Rouge2, 0.6, 0.6, 0.6);
        Near(s.RougeL, 5.0 / 6, 5.0 / 6, 5.0 / 6);
    }

    [Fact]
    public void Precision_and_recall_differ_when_lengths_differ()
    {
        // ref = the quick brown fox (4), pred = quick fox jumps (3); unigram overlap quick, fox = 2
        // P = 2/3, R = 2/4, F = 2 * (2/3)(1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
        // bigrams: ref {the quick, quick brown, brown fox}, pred {quick fox, fox jumps}: none shared -> all 0
        // LCS = quick fox = 2 -> same as ROUGE-1
        var s = Rouge.Score("the quick brown fox", "quick fox jumps");
        Near(s.Rouge1, 2.0 / 3, 0.5, 4.0 / 7);
        Near(s.Rouge2, 0, 0, 0);
        Near(s.RougeL, 2.0 / 3, 0.5, 4.0 / 7);
    }

    [Fact]
    public void Word_order_changes_bigrams_and_lcs_but_not_unigrams()
    {
        // ref = police killed the gunman, pred = the gunman police killed: unigrams 4/4 -> 1
        // bigrams ref {police killed, killed the, the gunman}, pred {the gunman, gunman police, police killed}: 2/3
        // LCS: "police killed" or "the gunman" = 2 of 4 -> 0.5
        var s = Rouge.Score("police killed the gunman", "the gunman police killed");
        Near(s.Rouge1, 1, 1, 1);
        Near(s.Rouge2, 2.0 / 3, 2.0 / 3, 2.0 / 3);
        Near(s.RougeL, 0.5, 0.5, 0.5);
    }

    [Fact]
    public void Repeated_ngrams_are_clipped_to_the_smaller_count()
    {
        // ref = the the cat (the:2, cat:1), pred = the the the the (the:4): overlap min(2,4) = 2
        // P = 2/4, R = 2/3, F = 2 * (1/2)(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
        Near(Rouge.Score("the the cat", "the the the the").Rouge1, 0.5, 2.0 / 3, 4.0 / 7);
    }

    [Fact]
    public void Empty_prediction_scores_zero_everywhere()
    {
        var s = Rouge.Score("some reference text", "");
        foreach (var v in new[] { s.Rouge1, s.Rouge2, s.RougeL, s.RougeLsum })
            Assert.Equal(RougeScore.Zero, v);
    }

    [Fact]
    public void Stemming_lets_inflections_match()
    {
        // "cats running" vs "cat runs": without stemming nothing matches; with it both tokens stem to cat, run.
        Near(Rouge.Score("cats running", "cat runs").Rouge1, 0, 0, 0);
        Near(Rouge.Score("cats running", "cat runs", stem: true).Rouge1, 1, 1, 1);
    }

    [Fact]
    public void Lsum_takes_the_union_of_lcs_over_candidate_sentences()
    {
        // Lin (2004) section 3.2 example: r = a b c d e; c1 = a b f g h, c2 = a c h i e.
        // LCS(r, c1) = a b; LCS(r, c2) = a c e; union = a b c e -> 4 hits (each still unused on both sides).
        // m = 5 reference tokens, n = 10 candidate tokens: R = 4/5, P = 4/10, F = 2 * .4 * .8 / 1.2 = 8/15
        var s = Rouge.Score("a b c d e", "a b f g h\na c h i e");
        Near(s.RougeLsum, 0.4, 0.8, 8.0 / 15);
    }

    [Fact]
    public void Lsum_matches_sentences_in_any_order_where_rougeL_cannot()
    {
        // ref "a b" / "c d", pred "c d" / "a b": Lsum finds a b and c d -> 4 of 4 -> 1.
        // rougeL over the joined texts a b c d vs c d a b: LCS 2 of 4 -> 0.5.
        var s = Rouge.Score("a b\nc d", "c d\na b");
        Near(s.RougeLsum, 1, 1, 1);
        Near(s.RougeL, 0.5, 0.5, 0.5);
    }

    [Fact]
    public void Lsum_does_not_count_a_candidate_token_twice()
    {
        // ref sentences "a b", "a b" (a:2, b:2), pred "a b" (a:1, b:1). First sentence: a, b hit and use up the
        // candidate's a and b; second: none left. hits = 2, m = 4, n = 2: P = 1, R = 1/2, F = 2/3.
        Near(Rouge.Score("a b\na b", "a b").RougeLsum, 1, 0.5, 2.0 / 3);
    }

    [Fact]
    public void Lsum_ignores_empty_lines()
    {
        // Empty lines are dropped before tokenizing; the result equals the same text without them.
        Assert.Equal(Rouge.Score("a b\nc d", "c d\na b").RougeLsum,
            Rouge.Score("a b\n\n\nc d\n", "\nc d\n\na b").RougeLsum);
    }
}
