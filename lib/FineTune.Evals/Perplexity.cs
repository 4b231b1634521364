// Perplexity and token accuracy on held-out tokenized examples (the test split of the fine-tuning data): the mean
// negative log-likelihood of the tokens the loss mask marks, exp'd; accuracy = how often the argmax is that token.
using FineTune.Models.Generation;

namespace FineTune.Evals;

/// <summary>One tokenized example: ids, and mask[i] = 1 when token i is a trained (scored) target.</summary>
public sealed record ScoredSequence(int[] Ids, byte[] Mask);

public static class Perplexity
{
    public const string FormatVersion = "perplexity-v1";

    /// <summary>A sequence longer than the context is scored on its last window (counted as truncated);
    /// <paramref name="items"/> holds examples an interrupted run already scored.</summary>
    public static SuiteResult Evaluate(ICausalLm model, IEnumerable<ScoredSequence> sequences,
        CancellationToken ct = default,
        SuiteItems? items = null)
    {
        double nll = 0;
        long tokens = 0, correct = 0;
        int examples = 0, truncated = 0;
        int context = model.Config.MaxPositionEmbeddings;
        foreach (var sequence in sequences)
        {
            ct.ThrowIfCancellationRequested();
            var key = examples.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (items is null || !items.TryGet<ExampleScore>(key, out var score))
            {
                score = Score(model, sequence, context, examples);
                items?.Add(key, score);
            }
            nll += score.Nll;
            tokens += score.Tokens;
            correct += score.Correct;
            if (score.Truncated)
                truncated++;
            examples++;
        }
        if (tokens == 0)
            throw new ArgumentException("no scored tokens: the examples are empty or their loss masks are all zero.");
        double meanNll = nll / tokens;
        return new SuiteResult("perplexity", FormatVersion,
        [
            new MetricValue("perplexity/perplexity", Math.Exp(meanNll), tokens),
            new MetricValue("perplexity/nll", meanNll, tokens),
            new MetricValue("perplexity/token_accuracy", (double)correct / tokens, tokens),
        ], new { examples, tokens })
        { Items = examples, Truncated = truncated };
    }

    /// <summary>One example's summed negative log-likelihood, scored tokens and argmax hits.</summary>
    public sealed record ExampleScore(double Nll, long Tokens, long Correct, bool Truncated);

    static ExampleScore Score(ICausalLm model, ScoredSequence sequence, int context, int index)
    {
        if (sequence.Ids.Length != sequence.Mask.Length)
            throw new ArgumentException($"example {index}: {sequence.Ids.Length} ids but {sequence.Mask.Length} " +
                $"mask bytes.");
        // Longer than the context: score the last window, whose every target still has its full left context.
        int start = Math.Max(0, sequence.Ids.Length - context);
        var ids = sequence.Ids.AsSpan(start).ToArray();
        if (ids.Length < 2)
            return new ExampleScore(0, 0, 0, start > 0);
        var logits = model.Forward(ids);
        double nll = 0;
        long tokens = 0, correct = 0;
        for (int t = 1; t < ids.Length; t++)
        {
            if (sequence.Mask[start + t] == 0)
                continue;
            var row = logits[t - 1];
            nll -= LogSoftmax(row, ids[t]);
            if (Sampler.ArgMax(row) == ids[t])
                correct++;
            tokens++;
        }
        return new ExampleScore(nll, tokens, correct, start > 0);
    }

    static double LogSoftmax(float[] logits, int target)
    {
        double max = logits.Max(), sum = 0;
        foreach (var l in logits)
            sum += Math.Exp(l - max);
        return logits[target] - max - Math.Log(sum);
    }
}
