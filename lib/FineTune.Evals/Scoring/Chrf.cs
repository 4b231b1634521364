// chrF as sacrebleu computes it (corpus_chrf and sentence_chrf with their defaults): character n-grams of orders 1–6
// with whitespace removed, counted by code point; per segment the reference with the best F-score; precision and
// recall averaged over the orders both sides have n-grams of (sacrebleu's effective order), then one F-beta, beta 2.
// A corpus score sums the segments' statistics first.
namespace FineTune.Evals.Scoring;

/// <summary>A chrF score (0–100) and the summed [hypothesis, reference, match] counts per order.</summary>
public sealed record ChrfScore(double Score, long[] Statistics)
{
    /// <summary>sacrebleu's line: "chrF2|signature = 59.73".</summary>
    public string Format(string signature) => FormattableString.Invariant($"chrF2|{signature} = {Score:F2}");
}

public static class Chrf
{
    public const int CharOrder = 6;
    public const double Beta = 2;

    /// <summary>Statistics of one segment against its best reference (the first when F-scores tie).</summary>
    public static long[] Statistics(string hypothesis, IReadOnlyList<string> references, double beta = Beta)
    {
        if (references.Count == 0)
            throw new ArgumentException("chrF needs at least one reference per segment.", nameof(references));
        var hypothesisNGrams = NGrams(hypothesis);
        long[]? best = null;
        double bestScore = -1;
        foreach (var reference in references)
        {
            var stats = Match(hypothesisNGrams, NGrams(reference));
            var score = FScore(stats, beta);
            if (score > bestScore)
            {
                best = stats;
                bestScore = score;
            }
        }
        return best!;
    }

    public static ChrfScore Corpus(IReadOnlyList<string> hypotheses, IReadOnlyList<IReadOnlyList<string>> references,
        double beta = Beta)
    {
        if (hypotheses.Count != references.Count)
            throw new ArgumentException($"{hypotheses.Count} hypotheses but {references.Count} reference sets.");
        var sum = new long[3 * CharOrder];
        for (int i = 0; i < hypotheses.Count; i++)
            Add(sum, Statistics(hypotheses[i], references[i], beta));
        return new ChrfScore(FScore(sum, beta), sum);
    }

    public static ChrfScore Sentence(string hypothesis, IReadOnlyList<string> references, double beta = Beta)
    {
        var stats = Statistics(hypothesis, references, beta);
        return new ChrfScore(FScore(stats, beta), stats);
    }

    /// <summary>Corpus chrF of the segments <paramref name="indices"/> picks (a bootstrap resample, or all).</summary>
    public static double Corpus(IReadOnlyList<long[]> segments, IReadOnlyList<int> indices)
    {
        var sum = new long[3 * CharOrder];
        foreach (var i in indices)
            Add(sum, segments[i]);
        return FScore(sum);
    }

    public static void Add(long[] sum, long[] stats)
    {
        for (int i = 0; i < sum.Length; i++)
            sum[i] += stats[i];
    }

    /// <summary>
    /// F-beta (0–100) of precision and recall averaged over the orders where hypothesis and reference both have
    /// n-grams; 0 when there is no such order or nothing matches.
    /// </summary>
    public static double FScore(long[] stats, double beta = Beta)
    {
        double factor = beta * beta, precision = 0, recall = 0;
        int orders = 0;
        for (int n = 0; n < CharOrder; n++)
        {
            long hypothesis = stats[3 * n], reference = stats[3 * n + 1], match = stats[3 * n + 2];
            if (hypothesis > 0 && reference > 0)
            {
                precision += (double)match / hypothesis;
                recall += (double)match / reference;
                orders++;
            }
        }
        if (orders == 0)
            return 0;
        precision /= orders;
        recall /= orders;
        return precision + recall == 0 ? 0 : 100 * (1 + factor) * precision * recall / (factor * precision + recall);
    }

    /// <summary>sacrebleu's signature, e.g. "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0".</summary>
    public static string Signature(IEnumerable<IReadOnlyList<string>> references) =>
        $"nrefs:{Bleu.ReferenceCount(references)}|case:mixed|eff:yes|nc:{CharOrder}|nw:0|space:no|" +
        $"version:{SacreBleuText.Version}";

    /// <summary>[hypothesis n-grams (0 when the reference has none of the order), reference n-grams, matches] per
    /// order.</summary>
    static long[] Match(Dictionary<string, int>[] hypothesis, Dictionary<string, int>[] reference)
    {
        var stats = new long[3 * CharOrder];
        for (int n = 0; n < CharOrder; n++)
        {
            long hypothesisTotal = 0, match = 0;
            foreach (var (ngram, count) in hypothesis[n])
            {
                hypothesisTotal += count;
                if (reference[n].TryGetValue(ngram, out var inReference))
                    match += Math.Min(count, inReference);
            }
            stats[3 * n] = reference[n].Count > 0 ? hypothesisTotal : 0;
            stats[3 * n + 1] = reference[n].Values.Sum(c => (long)c);
            stats[3 * n + 2] = match;
        }
        return stats;
    }

    static Dictionary<string, int>[] NGrams(string text)
    {
        var (compact, starts) = SacreBleuText.CodePoints(text);
        int characters = starts.Length - 1;
        var result = new Dictionary<string, int>[CharOrder];
        for (int n = 1; n <= CharOrder; n++)
        {
            var counts = result[n - 1] = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i + n <= characters; i++)
            {
                var key = compact[starts[i]..starts[i + n]];
                counts[key] = counts.GetValueOrDefault(key) + 1;
            }
        }
        return result;
    }
}
