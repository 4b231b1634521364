// Turns one row of logits into a token id: repetition penalty, then temperature, top-k and top-p, then a draw.
// Avoids sorting the whole vocabulary: top-k keeps a small heap, top-p first drops tokens that cannot be in the nucleus
// (probability below (1 - p) / (V - 1), the trick llama2.c uses).
using System.Numerics.Tensors;

namespace FineTune.Models.Generation;

public sealed class Sampler(GenerationOptions options)
{
    readonly Random _random = options.Seed is { } seed ? new Random(seed) : new Random();
    float[] _scratch = [];

    public int Next(float[] logits, IReadOnlyCollection<int> history)
    {
        if (options.RepetitionPenalty != 1f)
            foreach (var id in history.Distinct())
                logits[id] = logits[id] > 0 ? logits[id] / options.RepetitionPenalty : logits[id]
                    * options.RepetitionPenalty;

        if (options.Temperature == 0f)
            return ArgMax(logits);

        // Candidate ids and their unnormalized probabilities exp((logit - max) / T): all of the vocabulary unless top-k
        // narrows it down; the whole-vocabulary case is vectorized (a 32k vocabulary costs microseconds, not a LINQ
        // pass).
        int[] candidates;
        double[] weights;
        double total = 0;
        if (options.TopK > 0 && options.TopK < logits.Length)
        {
            candidates = TopK(logits, options.TopK);
            float max = logits[candidates[0]];
            weights = new double[candidates.Length];
            for (int i = 0; i < candidates.Length; i++)
                total += weights[i] = Math.Exp((logits[candidates[i]] - max) / options.Temperature);
        }
        else
        {
            var scaled = _scratch.Length == logits.Length ? _scratch : _scratch = new float[logits.Length];
            float max = TensorPrimitives.Max(logits);
            float inverseT = 1f / options.Temperature;
            TensorPrimitives.Subtract(logits, max, scaled);
            TensorPrimitives.Multiply(scaled, inverseT, scaled);
            TensorPrimitives.Exp(scaled, scaled);
            if (options.TopP >= 1f)
            {
                // Draw directly over the whole vocabulary: find the block of the draw by block sums, then the id in it.
                const int Block = 512;
                double sum = TensorPrimitives.Sum(scaled);
                double target = _random.NextDouble() * sum;
                int start = 0;
                for (; start + Block < scaled.Length; start += Block)
                {
                    double block = TensorPrimitives.Sum(scaled.AsSpan(start, Block));
                    if (target <= block)
                        break;
                    target -= block;
                }
                for (int i = start; i < scaled.Length; i++)
                {
                    target -= scaled[i];
                    if (target <= 0)
                        return i;
                }
                return scaled.Length - 1;
            }
            candidates = new int[logits.Length];
            weights = new double[logits.Length];
            for (int i = 0; i < logits.Length; i++)
            {
                candidates[i] = i;
                total += weights[i] = scaled[i];
            }
        }

        if (options.TopP < 1f)
        {
            double cutoff = (1 - options.TopP) / Math.Max(1, candidates.Length - 1) * total;
            var nucleus = Enumerable.Range(0, candidates.Length).Where(i => weights[i] >= cutoff)
                .OrderByDescending(i => weights[i]).ToArray();
            double cumulative = 0;
            int keep = nucleus.Length;
            for (int i = 0; i < nucleus.Length; i++)
            {
                cumulative += weights[nucleus[i]];
                if (cumulative >= options.TopP * total)
                {
                    keep = i + 1;
                    break;
                }
            }
            candidates = nucleus.Take(keep).Select(i => candidates[i]).ToArray();
            weights = nucleus.Take(keep).Select(i => weights[i]).ToArray();
            total = weights.Sum();
        }

        double draw = _random.NextDouble() * total;
        for (int i = 0; i < candidates.Length; i++)
        {
            draw -= weights[i];
            if (draw <= 0)
                return candidates[i];
        }
        return candidates[^1];
    }

    /// <summary>Index of the largest logit; the first one on ties, as llama2.c and torch.argmax do.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int index = TensorPrimitives.IndexOfMax(logits); // vectorized; the first of equal maxima
        if (index >= 0 && !float.IsNaN(logits[index]))
            return index;
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best])
                best = i;
        return best;
    }

    // The k largest logits' ids, best first, with a size-k min-heap: O(V log k).
    static int[] TopK(float[] logits, int k)
    {
        var heap = new PriorityQueue<int, float>(k);
        for (int i = 0; i < logits.Length; i++)
        {
            if (heap.Count < k)
                heap.Enqueue(i, logits[i]);
            else if (logits[i] > logits[heap.Peek()])
                heap.EnqueueDequeue(i, logits[i]);
        }
        var ids = new int[heap.Count];
        for (int i = ids.Length - 1; i >= 0; i--)
            ids[i] = heap.Dequeue();
        return ids;
    }
}
