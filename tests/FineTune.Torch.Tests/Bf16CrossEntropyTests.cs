// The bf16 loss kernel against libtorch's cross_entropy on the same bf16 logits taken to float32: the summed loss to
// float32 rounding, trained-token count and argmax hits exactly, and the logits' gradient equal to libtorch's rounded
// to bf16 — with untrained (-100) rows, rows that cannot be split evenly over the threads, and a scaled upstream
// gradient. Then the training loss end to end: bf16 autocast's SftLoss against the float32-logits path.
using FineTune.Models.Checkpoints;
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class Bf16CrossEntropyTests
{
    [Theory]
    [InlineData(7, 1000)]
    [InlineData(33, 4099)]
    public void Loss_hits_and_gradient_equal_libtorch_on_the_same_logits(int rows, int vocab)
    {
        manual_seed(3);
        using var scope = NewDisposeScope();
        var logits = (randn(rows, vocab) * 4).to(ScalarType.BFloat16);
        var targets = randint(vocab, [rows]);
        targets[1] = tensor(-100L);
        targets[rows - 2] = tensor(-100L);
        // a row whose target is its argmax, so hits are not all zero
        targets[0] = logits[0].argmax();

        var ours = logits.detach().requires_grad_(true);
        var result = Bf16CrossEntropy.Compute(ours, targets);
        (result.Sum * 0.5).backward();

        var reference = logits.detach().to(ScalarType.Float32).requires_grad_(true);
        var sum = nn.functional.cross_entropy(reference, targets, ignore_index: -100, reduction: nn.Reduction.Sum);
        (sum * 0.5).backward();
        var trained = targets.NotEqual(-100);

        Assert.Equal(sum.item<float>(), result.Sum.item<float>(), sum.item<float>() * 1e-5f);
        Assert.Equal(trained.sum().item<long>(), result.Tokens);
        long hits = reference.argmax(-1).eq(targets).logical_and(trained).sum().item<long>();
        Assert.True(hits >= 1);
        Assert.Equal(hits, result.Correct);
        Assert.Equal(ScalarType.BFloat16, ours.grad!.dtype);
        var expected = reference.grad!.to(ScalarType.BFloat16).to(ScalarType.Float32);
        var actual = ours.grad!.to(ScalarType.Float32);
        // float32 exp and sum in another order: at most one bf16 step apart, and untrained rows exactly zero
        var step = expected.abs() * (1.0 / 128) + 1e-30;
        Assert.True((actual - expected).abs().le(step).all().item<bool>());
        Assert.Equal(0f, actual[1].abs().sum().item<float>());
    }

    [Theory]
    [InlineData(null, 0.25)]         // ComputeOverwriting: the backward writes the gradient over the logits
    [InlineData(1.0 / 3, 1.0 / 3)]   // ComputeWithGradient told the upstream gradient: the forward wrote it, handed on
    [InlineData(0.25, 0.5)]          // told another one: rescaled (by a power of two here, so exactly)
    public void The_gradient_written_over_the_logits_has_the_same_bits(double? told, double upstream)
    {
        manual_seed(4);
        using var scope = NewDisposeScope();
        var logits = (randn(11, 333) * 3).to(ScalarType.BFloat16);
        var targets = randint(333, [11]);
        targets[3] = tensor(-100L);
        targets[6] = logits[6].argmax();
        var separate = logits.detach().requires_grad_(true);
        var expected = Bf16CrossEntropy.Compute(separate, targets);
        expected.Sum.Times(upstream).backward();

        // logits of their own, as the LM head's output is: the loss may write over them
        var source = logits.detach().clone().requires_grad_(true);
        var own = source.mul(ScalarOps.Filled([], 1.0).to(ScalarType.BFloat16));
        var result = told is { } g ? Bf16CrossEntropy.ComputeWithGradient(own, targets, (float)g)
            : Bf16CrossEntropy.ComputeOverwriting(own, targets);
        // what the forward left where the logits were: the gradient for what it was told, or the logits
        var afterForward = own.detach().to(ScalarType.Float32);
        result.Sum.Times(upstream).backward();

        Assert.Equal(expected.Sum.item<float>(), result.Sum.item<float>());
        Assert.Equal((expected.Tokens, expected.Correct), (result.Tokens, result.Correct));
        var gradient = separate.grad!.to(ScalarType.Float32);
        Assert.True(gradient.abs().sum().item<float>() > 0);
        Assert.Equal(0, source.grad!.to(ScalarType.Float32).ne(gradient).sum().item<long>());
        // the gradient is where the logits were
        Assert.Equal(0, own.detach().to(ScalarType.Float32).ne(gradient).sum().item<long>());
        Assert.Equal(told == upstream, afterForward.ne(gradient).sum().item<long>() == 0);
        Assert.Equal(told is null, afterForward.ne(logits.to(ScalarType.Float32)).sum().item<long>() == 0);
    }

    [Fact]
    public void A_target_outside_the_vocabulary_is_refused_with_its_row()
    {
        using var scope = NewDisposeScope();
        var logits = zeros(3, 10, dtype: ScalarType.BFloat16);
        var error = Assert.Throws<ArgumentException>(() =>
            Bf16CrossEntropy.Compute(logits, tensor(new long[] { 1, 10, 2 })));
        Assert.Contains("target 10 at row 1", error.Message);
        Assert.Throws<ArgumentException>(() => Bf16CrossEntropy.Compute(logits.to(ScalarType.Float32),
            tensor(new long[] { 1, 2, 3 })));
    }

    [Fact]
    public void Bf16_autocast_training_loss_matches_the_float32_logits_path()
    {
        var config = TestModels.Tiny(bias: false, tied: false);
        var weights = LlamaWeights.Random(config, seed: 5, std: 0.2f);
        var rows = Packing.Pack(
        [
            ([1, 5, 9, 13, 17, 21], [0, 0, 1, 1, 1, 1]),
            ([1, 7, 11, 15, 19, 23, 27, 31, 35], [0, 0, 0, 0, 1, 1, 1, 1, 1]),
        ], maxLength: 12);
        (float Loss, long Tokens, long Correct, float[] HeadGrad) Run(bool lowLogits)
        {
            using var model = LlamaCheckpoints.Load(config, weights);
            model.ComputeDtype = ScalarType.BFloat16;
            model.train();
            using var scope = NewDisposeScope();
            SftBatchLoss result;
            if (lowLogits)
                result = SftLoss.Compute(model, rows);
            else
            {
                // the float32-logits path: Llama.forward's logits and libtorch's cross_entropy
                var (inputs, positions, mask, targets) = SftLoss.Build(rows);
                var flat = model.forward(inputs, positions, mask).reshape(-1, config.VocabSize);
                var trained = targets.NotEqual(-100);
                result = new SftBatchLoss(nn.functional.cross_entropy(flat, targets, ignore_index: -100,
                    reduction: nn.Reduction.Sum), trained.sum().item<long>(),
                    flat.argmax(-1).eq(targets).logical_and(trained).sum().item<long>());
            }
            result.Sum.backward();
            return (result.Sum.item<float>(), result.Tokens, result.Correct,
                model.OutputWeight.grad!.data<float>().ToArray());
        }
        var ours = Run(lowLogits: true);
        var reference = Run(lowLogits: false);
        Assert.Equal(reference.Loss, ours.Loss, reference.Loss * 1e-5f);
        Assert.Equal(reference.Tokens, ours.Tokens);
        Assert.Equal(reference.Correct, ours.Correct);
        double scale = reference.HeadGrad.Max(MathF.Abs);
        Assert.True(scale > 0);
        // the same bf16 gradient into the same bf16 products, summed in another order at most
        Assert.All(ours.HeadGrad.Zip(reference.HeadGrad), p => Assert.Equal(p.Second, p.First, scale * 1e-2));
    }

    [Fact]
    public void Bf16_autocast_attention_follows_the_float32_model_and_its_packing_mask()
    {
        var config = TestModels.Tiny(bias: false, tied: false);
        var weights = LlamaWeights.Random(config, seed: 8, std: 0.2f);
        // two examples packed in one row, and a shorter row padded: the mask must keep them apart
        var rows = Packing.Pack(
        [
            ([1, 5, 9, 13], [0, 1, 1, 1]),
            ([1, 7, 11, 15, 19], [0, 1, 1, 1, 1]),
            ([1, 6, 10], [0, 1, 1]),
        ], maxLength: 10);
        var (inputs, positions, mask, _) = SftLoss.Build(rows);
        Tensor Logits(ScalarType? dtype, Tensor attentionMask)
        {
            using var model = LlamaCheckpoints.Load(config, weights);
            model.ComputeDtype = dtype;
            using (no_grad())
                return model.forward(inputs, positions, attentionMask).detach().MoveToOuterDisposeScope();
        }
        using var scope = NewDisposeScope();
        var reference = Logits(null, mask);
        var bf16 = Logits(ScalarType.BFloat16, mask);
        double scale = reference.abs().max().item<float>();
        double error = (bf16 - reference).abs().max().item<float>();
        Assert.True(error < 0.03 * scale, $"bf16 autocast logits differ by {error} at a scale of {scale}");
        // the same model with a plain causal mask over the packed row sees the first example: far off
        var causal = Llama.CausalMask(inputs.shape[1]).expand(inputs.shape[0], 1, -1, -1);
        double leak = (Logits(ScalarType.BFloat16, causal) - reference).abs().max().item<float>();
        Assert.True(leak > 5 * error, $"ignoring the packing mask changed the logits by only {leak}");
    }
}
