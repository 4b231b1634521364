// Perplexity on a tiny model whose answer is known: a uniform model has perplexity = vocabulary size; only masked
// tokens count.
using FineTune.Models;
using FineTune.Models.Generation;

namespace FineTune.Evals.Tests;

public class PerplexityTests
{
    // Logits that are all zero: every next token has probability 1/V, except that token 3 gets logit ln(3) (weight 3).
    sealed class FixedModel(int vocab) : ICausalLm
    {
        public LlamaConfig Config { get; } = new()
        {
            VocabSize = vocab, MaxPositionEmbeddings = 16, HiddenSize = 8,
            IntermediateSize = 8, NumHiddenLayers = 1, NumAttentionHeads = 1, NumKeyValueHeads = 1
        };
        public float[][] Forward(IReadOnlyList<int> tokens) =>
            tokens.Select(_ =>
            {
                var row = new float[vocab];
                row[3] = MathF.Log(3);
                return row;
            }).ToArray();
        public IDecodeSession StartSession(int batchSize, int maxLength) => throw new NotSupportedException();
        public void Dispose() { }
    }

    [Fact]
    public void Uniform_predictions_give_the_vocabulary_size_and_only_masked_tokens_count()
    {
        using var model = new FixedModel(vocab: 8);
        // Targets at positions 1..3 are 5, 3, 5; the mask scores positions 1 and 2 only.
        var result = Perplexity.Evaluate(model, [new ScoredSequence([1, 5, 3, 5], [0, 1, 1, 0])]);
        // p(5) = 1/10 (7 tokens at weight 1, token 3 at weight 3); p(3) = 3/10.
        double expectedNll = -(Math.Log(0.1) + Math.Log(0.3)) / 2;
        var metrics = result.Metrics.ToDictionary(m => m.Name);
        Assert.Equal(expectedNll, metrics["perplexity/nll"].Value, 6);
        Assert.Equal(Math.Exp(expectedNll), metrics["perplexity/perplexity"].Value, 6);
        Assert.Equal(0.5, metrics["perplexity/token_accuracy"].Value); // argmax is 3: right once of two
        Assert.Equal(2, metrics["perplexity/nll"].Count);
    }

    [Fact]
    public void An_all_zero_mask_is_an_error()
    {
        using var model = new FixedModel(8);
        Assert.Throws<ArgumentException>(() => Perplexity.Evaluate(model, [new ScoredSequence([1, 2, 3], [0, 0, 0])]));
    }
}
