// Perplexity and token accuracy on held-out tokenized examples (the test split of the fine-tuning data): the mean
// negative log-likelihood of the tokens the loss mask marks, exp'd; accuracy = how often the argmax is that token.
using FineTune.Models.Generation;

namespace FineTune.Evals;

/// <summary>One tokenized example: ids, and mask[i] = 1 when token i is a trained (scored) target.</summary>
public sealed record ScoredSequence(int[] Ids, byte[] Mask);

public static class Perplexity
{
    public const string FormatVersion = "perplexity-v1";

    public static SuiteResult Evaluate(ICausalLm model, IEnumerable<ScoredSequence> sequences, CancellationToken ct = default)
    {
        double nll = 0;
        long tokens = 0, correct = 0, examples = 0;
        int context = model.Config.MaxPositionEmbeddings;
        foreach (var sequence in sequences)
        {
            ct.ThrowIfCancellationRequested();
            if (sequence.Ids.Length != sequence.Mask.Length)
                throw new ArgumentException($"example {examples}: {sequence.Ids.Length} ids but {sequence.Mask.Length} mask bytes.");
            // Longer than the context: score the last window, whose every target still has its full left context.
            int start = Math.Max(0, sequence.Ids.Length - context);
            var ids = sequence.Ids.AsSpan(start).ToArray();
            if (ids.Length < 2) { examples++; continue; }
            var logits = model.Forward(ids);
            for (int t = 1; t < ids.Length; t++)
            {
                if (sequence.Mask[start + t] == 0) continue;
                var row = logits[t - 1];
                nll -= LogSoftmax(row, ids[t]);
                if (Sampler.ArgMax(row) == ids[t]) correct++;
                tokens++;
            }
            examples++;
        }
        if (tokens == 0) throw new ArgumentException("no scored tokens: the examples are empty or their loss masks are all zero.");
        double meanNll = nll / tokens;
        return new SuiteResult("perplexity", FormatVersion,
        [
            new MetricValue("perplexity/perplexity", Math.Exp(meanNll), tokens),
            new MetricValue("perplexity/nll", meanNll, tokens),
            new MetricValue("perplexity/token_accuracy", (double)correct / tokens, tokens),
        ], new { examples, tokens });
    }

    static double LogSoftmax(float[] logits, int target)
    {
        double max = logits.Max(), sum = 0;
        foreach (var l in logits) sum += Math.Exp(l - max);
        return logits[target] - max - Math.Log(sum);
    }
}
