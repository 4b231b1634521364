// BLEU as sacrebleu computes it (corpus_bleu and sentence_bleu with their defaults): 13a tokens, n-grams up to 4
// clipped against the most generous reference, the reference length closest to the hypothesis (a tie goes to the
// shorter), NIST 'exp' smoothing of orders without a match, and the brevity penalty. A corpus score sums the segments'
// statistics first; it is not a mean of sentence scores.
using System.Globalization;

namespace FineTune.Evals.Scoring;

/// <summary>The counts BLEU is computed from; they add up over segments.</summary>
public sealed record BleuStatistics(long HypothesisLength, long ReferenceLength, long[] Correct, long[] Total)
{
    public static BleuStatistics Zero => new(0, 0, new long[Bleu.MaxOrder], new long[Bleu.MaxOrder]);

    public BleuStatistics Add(BleuStatistics other) => new(HypothesisLength + other.HypothesisLength,
        ReferenceLength + other.ReferenceLength,
        Correct.Zip(other.Correct, (a, b) => a + b).ToArray(), Total.Zip(other.Total, (a, b) => a + b).ToArray());
}

/// <summary>A BLEU score (0–100) with its n-gram precisions (percent) and brevity penalty.</summary>
public sealed record BleuScore(double Score, double[] Precisions, double BrevityPenalty, BleuStatistics Statistics)
{
    public double Ratio => Statistics.ReferenceLength > 0
        ? (double)Statistics.HypothesisLength / Statistics.ReferenceLength : 0;

    /// <summary>sacrebleu's line: "BLEU|signature = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 …)".</summary>
    public string Format(string signature)
    {
        var precisions = string.Join('/', Precisions.Select(p => p.ToString("F1", CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture, $"BLEU|{signature} = {Score:F2} {precisions} (BP = " +
            $"{BrevityPenalty:F3} ratio = {Ratio:F3} hyp_len = {Statistics.HypothesisLength} ref_len = " +
            $"{Statistics.ReferenceLength})");
    }
}

public static class Bleu
{
    public const int MaxOrder = 4;

    /// <summary>One segment's statistics against its references (at least one; an empty string counts).</summary>
    public static BleuStatistics Statistics(string hypothesis, IReadOnlyList<string> references)
    {
        if (references.Count == 0)
            throw new ArgumentException("BLEU needs at least one reference per segment.", nameof(references));
        var referenceCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        var referenceLengths = new List<int>(references.Count);
        foreach (var reference in references)
        {
            var tokens = Tokens(reference);
            referenceLengths.Add(tokens.Count);
            foreach (var (ngram, count) in NGrams(tokens))
                referenceCounts[ngram] = Math.Max(count, referenceCounts.GetValueOrDefault(ngram));
        }
        var hypothesisTokens = Tokens(hypothesis);
        var correct = new long[MaxOrder];
        var total = new long[MaxOrder];
        foreach (var (ngram, count) in NGrams(hypothesisTokens))
        {
            int order = ngram.Count(c => c == ' ');
            total[order] += count;
            if (referenceCounts.TryGetValue(ngram, out var inReference))
                correct[order] += Math.Min(count, inReference);
        }
        return new BleuStatistics(hypothesisTokens.Count, ClosestLength(hypothesisTokens.Count, referenceLengths),
            correct, total);
    }

    /// <summary>corpus_bleu: statistics summed over segments, all four orders (no effective order).</summary>
    public static BleuScore Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> references)
    {
        if (hypotheses.Count != references.Count)
            throw new ArgumentException($"{hypotheses.Count} hypotheses but {references.Count} reference sets.");
        var sum = BleuStatistics.Zero;
        for (int i = 0; i < hypotheses.Count; i++)
            sum = sum.Add(Statistics(hypotheses[i], references[i]));
        return Compute(sum, effectiveOrder: false);
    }

    /// <summary>Corpus BLEU of the segments <paramref name="indices"/> picks (a bootstrap resample, or all).</summary>
    public static BleuScore Corpus(IReadOnlyList<BleuStatistics> segments, IReadOnlyList<int> indices) =>
        Compute(indices.Aggregate(BleuStatistics.Zero, (sum, i) => sum.Add(segments[i])), effectiveOrder: false);

    /// <summary>sentence_bleu: one segment, averaging only the orders the hypothesis has n-grams of.</summary>
    public static BleuScore Sentence(string hypothesis, IReadOnlyList<string> references) =>
        Compute(Statistics(hypothesis, references), effectiveOrder: true);

    /// <summary>The score from statistics: geometric mean of the precisions ('exp' smoothing) times the brevity
    /// penalty; 0 when nothing matches.</summary>
    public static BleuScore Compute(BleuStatistics s, bool effectiveOrder)
    {
        double brevity = s.HypothesisLength < s.ReferenceLength
            ? s.HypothesisLength > 0 ? Math.Exp(1 - (double)s.ReferenceLength / s.HypothesisLength) : 0
            : 1;
        var precisions = new double[MaxOrder];
        if (s.Correct.All(c => c == 0))
            return new BleuScore(0, precisions, brevity, s);
        double smoothing = 1;
        int order = MaxOrder;
        for (int n = 0; n < MaxOrder; n++)
        {
            if (s.Total[n] == 0)
                break;
            if (effectiveOrder)
                order = n + 1;
            if (s.Correct[n] == 0)
            {
                smoothing *= 2;
                precisions[n] = 100 / (smoothing * s.Total[n]);
            }
            else
                precisions[n] = 100.0 * s.Correct[n] / s.Total[n];
        }
        double logSum = 0;
        for (int n = 0; n < order; n++)
            logSum += precisions[n] == 0 ? -9999999999 : Math.Log(precisions[n]);
        return new BleuScore(brevity * Math.Exp(logSum / order), precisions, brevity, s);
    }

    /// <summary>sacrebleu's signature, e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"; a count of
    /// references that varies by segment is "var".</summary>
    public static string Signature(IEnumerable<IReadOnlyList<string>> references, bool effectiveOrder) =>
        $"nrefs:{ReferenceCount(references)}|case:mixed|eff:{(effectiveOrder ? "yes" : "no")}|tok:13a|smooth:exp|" +
        $"version:{SacreBleuText.Version}";

    internal static string ReferenceCount(IEnumerable<IReadOnlyList<string>> references)
    {
        var counts = references.Select(r => r.Count).Distinct().ToList();
        return counts.Count == 1 ? counts[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : "var";
    }

    static List<string> Tokens(string text) =>
        SacreBleuText.Split(SacreBleuText.Tokenize13a(SacreBleuText.TrimEnd(text)));

    /// <summary>Counts of the 1- to 4-grams, each keyed by its tokens joined with spaces (tokens hold none).</summary>
    static Dictionary<string, int> NGrams(List<string> list)
    {
        var tokens = list.ToArray();
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int n = 1; n <= MaxOrder; n++)
        {
            for (int i = 0; i + n <= tokens.Length; i++)
            {
                var key = string.Join(' ', tokens, i, n);
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }
        return counts;
    }

    static int ClosestLength(int hypothesisLength, List<int> referenceLengths)
    {
        int closest = referenceLengths[0];
        foreach (var length in referenceLengths)
        {
            int difference = Math.Abs(hypothesisLength - length), best = Math.Abs(hypothesisLength - closest);
            if (difference < best || (difference == best && length < closest))
                closest = length;
        }
        return closest;
    }
}
