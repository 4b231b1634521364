// ROUGE-1/2/L/Lsum as Google's rouge_score computes them (its default tokenizer, optional nltk Porter stemming), so
// numbers reported here can be compared with papers and Hugging Face `evaluate` results that use that package.
namespace FineTune.Evals.Scoring;

/// <summary>Precision, recall and F1 of one ROUGE variant for one prediction.</summary>
public readonly record struct RougeScore(double Precision, double Recall, double FMeasure)
{
    public static readonly RougeScore Zero = new(0, 0, 0);

    /// <summary>F = 2PR/(P+R), 0 when P+R is 0 (rouge_score's scoring.fmeasure).</summary>
    public static RougeScore From(double precision, double recall) =>
        new(precision, recall, precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0);
}

/// <summary>The four ROUGE variants rouge_score is usually asked for.</summary>
public sealed record RougeScores(RougeScore Rouge1, RougeScore Rouge2, RougeScore RougeL, RougeScore RougeLsum);

public static class Rouge
{
    /// <summary>
    /// rouge_score's tokenizer: lower-case, every run of characters outside [a-z0-9] becomes a space, split on spaces,
    /// Porter-stem tokens longer than 3 characters when <paramref name="stem"/>, drop empty tokens.
    /// </summary>
    public static List<string> Tokenize(string text, bool stem)
    {
        // Python's str.lower() turns U+0130 into "i" + combining dot and the Kelvin sign into "k"; .NET's invariant
        // casing may not, and only these two non-ASCII characters lower-case to an ASCII letter.
        var lower = text.Replace('\u0130', 'i').Replace('\u212A', 'k').ToLowerInvariant();
        var tokens = new List<string>();
        int start = -1;
        for (int i = 0; i <= lower.Length; i++)
        {
            var alnum = i < lower.Length && lower[i] is (>= 'a' and <= 'z') or (>= '0' and <= '9');
            if (alnum && start < 0)
                start = i;
            else if (!alnum && start >= 0)
            {
                var token = lower[start..i];
                tokens.Add(stem && token.Length > 3 ? PorterStemmer.Stem(token) : token);
                start = -1;
            }
        }
        return tokens;
    }

    /// <summary>All four variants; <paramref name="reference"/> is rouge_score's target. Lsum splits sentences on
    /// '\n'.</summary>
    public static RougeScores Score(string reference, string prediction, bool stem = false)
    {
        var target = Tokenize(reference, stem);
        var predicted = Tokenize(prediction, stem);
        return new RougeScores(
            RougeN(target, predicted, 1),
            RougeN(target, predicted, 2),
            RougeL(target, predicted),
            RougeLsum(Sentences(reference, stem), Sentences(prediction, stem)));
    }

    /// <summary>Non-empty '\n'-separated lines, each tokenized (a blank-but-not-empty line gives an empty
    /// sentence).</summary>
    public static List<List<string>> Sentences(string text, bool stem) =>
        text.Split('\n').Where(s => s.Length > 0).Select(s => Tokenize(s, stem)).ToList();

    /// <summary>Clipped n-gram overlap: sum over target n-grams of min(count in target, count in prediction).</summary>
    public static RougeScore RougeN(IReadOnlyList<string> target, IReadOnlyList<string> prediction, int n)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var targetGrams = NGrams(target, n);
        var predictionGrams = NGrams(prediction, n);
        long overlap = 0;
        foreach (var (gram, count) in targetGrams)
            overlap += Math.Min(count, predictionGrams.GetValueOrDefault(gram));
        var targetCount = Math.Max(target.Count - n + 1, 0);
        var predictionCount = Math.Max(prediction.Count - n + 1, 0);
        return RougeScore.From((double)overlap / Math.Max(predictionCount, 1),
            (double)overlap / Math.Max(targetCount, 1));
    }

    static Dictionary<string, int> NGrams(IReadOnlyList<string> tokens, int n)
    {
        // Tokens are [a-z0-9]+, so joining with a space cannot make two different n-grams collide.
        var grams = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i + n <= tokens.Count; i++)
        {
            var key = string.Join(' ', tokens.Skip(i).Take(n));
            grams[key] = grams.GetValueOrDefault(key) + 1;
        }
        return grams;
    }

    /// <summary>LCS length over the whole texts: P = LCS/|prediction|, R = LCS/|target|.</summary>
    public static RougeScore RougeL(IReadOnlyList<string> target, IReadOnlyList<string> prediction)
    {
        if (target.Count == 0 || prediction.Count == 0)
            return RougeScore.Zero;
        var lcs = LcsTable(target, prediction)[target.Count, prediction.Count];
        return RougeScore.From((double)lcs / prediction.Count, (double)lcs / target.Count);
    }

    /// <summary>
    /// Summary-level LCS (Lin 2004, section 3.2) as rouge_score and ROUGE-1.5.5 do it: for each target sentence, the
    /// union of the target positions in one LCS with each prediction sentence; each union token is a hit only while
    /// both sides still have unused occurrences of it, so no token is counted twice.
    /// </summary>
    public static RougeScore RougeLsum(IReadOnlyList<IReadOnlyList<string>> target,
        IReadOnlyList<IReadOnlyList<string>> prediction)
    {
        if (target.Count == 0 || prediction.Count == 0)
            return RougeScore.Zero;
        var m = target.Sum(s => s.Count);
        var n = prediction.Sum(s => s.Count);
        if (m == 0 || n == 0)
            return RougeScore.Zero;

        var targetLeft = Counts(target);
        var predictionLeft = Counts(prediction);
        long hits = 0;
        foreach (var sentence in target)
        {
            var union = new SortedSet<int>();
            foreach (var candidate in prediction)
                union.UnionWith(LcsIndices(sentence, candidate));
            foreach (var token in union.Select(i => sentence[i]))
                if (predictionLeft.GetValueOrDefault(token) > 0 && targetLeft.GetValueOrDefault(token) > 0)
                {
                    hits++;
                    predictionLeft[token]--;
                    targetLeft[token]--;
                }
        }
        return RougeScore.From((double)hits / n, (double)hits / m);
    }

    static Dictionary<string, int> Counts(IEnumerable<IReadOnlyList<string>> sentences)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in sentences.SelectMany(s => s))
            counts[token] = counts.GetValueOrDefault(token) + 1;
        return counts;
    }

    static int[,] LcsTable(IReadOnlyList<string> a, IReadOnlyList<string> b)
    {
        var t = new int[a.Count + 1, b.Count + 1];
        for (int i = 1; i <= a.Count; i++)
            for (int j = 1; j <= b.Count; j++)
                t[i, j] = a[i - 1] == b[j - 1] ? t[i - 1, j - 1] + 1 : Math.Max(t[i - 1, j], t[i, j - 1]);
        return t;
    }

    /// <summary>
    /// Positions in <paramref name="reference"/> of one LCS, read back from the end with rouge_score's tie-break
    /// (move left in the candidate only when that cell is strictly larger), which decides which LCS joins the union.
    /// </summary>
    static List<int> LcsIndices(IReadOnlyList<string> reference, IReadOnlyList<string> candidate)
    {
        var t = LcsTable(reference, candidate);
        var indices = new List<int>();
        int i = reference.Count, j = candidate.Count;
        while (i > 0 && j > 0)
        {
            if (reference[i - 1] == candidate[j - 1])
            {
                indices.Add(i - 1);
                i--;
                j--;
            }
            else if (t[i, j - 1] > t[i - 1, j])
                j--;
            else
                i--;
        }
        return indices;
    }
}
