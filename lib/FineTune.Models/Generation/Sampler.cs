// Turns one row of logits into a token id: repetition penalty, then temperature, top-k and top-p, then a draw.
namespace FineTune.Models.Generation;

public sealed class Sampler(GenerationOptions options)
{
    readonly Random _random = options.Seed is { } seed ? new Random(seed) : new Random();

    public int Next(float[] logits, IReadOnlyCollection<int> history)
    {
        if (options.RepetitionPenalty != 1f)
            foreach (var id in history.Distinct())
                logits[id] = logits[id] > 0 ? logits[id] / options.RepetitionPenalty : logits[id] * options.RepetitionPenalty;

        if (options.Temperature == 0f) return ArgMax(logits);

        // Candidates sorted by logit, best first; top-k and top-p cut the tail.
        var order = Enumerable.Range(0, logits.Length).ToArray();
        Array.Sort(logits.ToArray(), order, Comparer<float>.Create((a, b) => b.CompareTo(a)));
        int keep = options.TopK > 0 ? Math.Min(options.TopK, order.Length) : order.Length;

        var probabilities = new double[keep];
        double max = logits[order[0]], total = 0;
        for (int i = 0; i < keep; i++)
        {
            probabilities[i] = Math.Exp((logits[order[i]] - max) / options.Temperature);
            total += probabilities[i];
        }
        if (options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < keep; i++)
            {
                cumulative += probabilities[i] / total;
                if (cumulative >= options.TopP) { keep = i + 1; break; }
            }
            total = probabilities.Take(keep).Sum();
        }

        double draw = _random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            draw -= probabilities[i];
            if (draw <= 0) return order[i];
        }
        return order[keep - 1];
    }

    /// <summary>Index of the largest logit; the first one on ties, as llama2.c and torch.argmax do.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }
}
