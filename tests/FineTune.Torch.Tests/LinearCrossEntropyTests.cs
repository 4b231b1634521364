// The fused LM head + cross-entropy (row chunks, gradients in the forward) against the reference path (full logits,
// cross_entropy): same summed loss, token count, hits and gradients on every parameter, tied and untied heads, with
// untrained (-100) targets and chunks that do not divide the rows.
using FineTune.Models.Checkpoints;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class LinearCrossEntropyTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void Fused_loss_and_gradients_equal_the_reference(bool tied, bool lora)
    {
        var config = TestModels.Tiny(bias: false, tied: tied);
        var weights = LlamaWeights.Random(config, seed: 5, std: 0.2f);
        var rows = Packing.Pack(
        [
            ([1, 5, 9, 13, 17, 21], [0, 0, 1, 1, 1, 1]),
            ([1, 6, 10, 14], [0, 1, 1, 1]),
            ([1, 7, 11, 15, 19, 23, 27, 31, 35], [0, 0, 0, 0, 1, 1, 1, 1, 1]),
        ], maxLength: 12);
        (double Loss, long Tokens, long Correct, Dictionary<string, float[]> Grads) Run(bool fused)
        {
            manual_seed(9);
            using var model = LlamaCheckpoints.Load(config, weights,
                adapter: lora ? new LoraSettings(4, 8, ["all-linear"]) : null);
            if (lora)
                using (no_grad())
                    foreach (var (_, p) in model.AdapterParameters())
                        p.normal_(0, 0.1);
            model.train();
            using var scope = NewDisposeScope();
            var result = SftLoss.Compute(model, rows, fused: fused);
            result.Sum.backward();
            var grads = model.named_parameters().Where(p => p.parameter.requires_grad)
                .ToDictionary(p => p.name, p => p.parameter.grad!.data<float>().ToArray());
            return (result.Sum.item<float>(), result.Tokens, result.Correct, grads);
        }
        var reference = Run(fused: false);
        var fused = Run(fused: true);
        Assert.Equal(reference.Tokens, fused.Tokens);
        Assert.Equal(reference.Correct, fused.Correct);
        Assert.Equal(reference.Loss, fused.Loss, 4);
        Assert.Equal(reference.Grads.Keys.Order(), fused.Grads.Keys.Order());
        double worst = reference.Grads.Max(kv => kv.Value.Zip(fused.Grads[kv.Key], (a, b) => Math.Abs(a - b)).Max());
        output.WriteLine($"loss {reference.Loss:F6} vs {fused.Loss:F6}; max gradient difference {worst:E2} over " +
            $"{reference.Grads.Count} tensors");
        Assert.True(worst < 1e-5, $"gradients differ by {worst}");
    }

    [Fact]
    public void Chunks_that_do_not_divide_the_rows_and_fully_untrained_chunks_give_the_full_sum()
    {
        manual_seed(4);
        var hidden = randn(37, 16);
        var weight = randn(50, 16);
        var targets = randint(0, 50, [37]);
        // the whole first chunk untrained
        targets[new TensorIndex[] { TensorIndex.Slice(0, 10) }] = tensor(Enumerable.Repeat(-100L, 10).ToArray());
        var expected = nn.functional.cross_entropy(matmul(hidden, weight.t()), targets, ignore_index: -100,
            reduction: nn.Reduction.Sum).item<float>();
        var result = LinearCrossEntropy.Compute(hidden, weight, targets, chunk: 10);
        Assert.Equal(27, result.Tokens);
        Assert.Equal(expected, result.Sum.item<float>(), 3);
    }
}
