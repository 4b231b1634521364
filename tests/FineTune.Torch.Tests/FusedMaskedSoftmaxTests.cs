// Attention's fused mask and softmax against the ops it replaces under bf16 autocast (the mask cast to bf16, the bf16
// add, libtorch's bf16 softmax, and autograd's backward of the same): probabilities and the scores' gradient, over
// rows that fill neither their 16-wide blocks evenly, with causal and packed (block-diagonal) masks, per batch row
// or broadcast; closed positions exactly zero both ways; a wholly closed row NaN as libtorch makes it; no-grad mode;
// what it refuses. Skipped where the CPU has no 512-bit vectors (attention keeps the composed ops there, tested by
// every bf16 test).
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class FusedMaskedSoftmaxTests
{
    const ScalarType Bf16 = ScalarType.BFloat16, F32 = ScalarType.Float32;

    static Tensor Composed(Tensor scores, Tensor mask) => softmax(scores + mask.to(Bf16), -1);

    // (B, 1, T, T): batch row 0 causal, row 1 two packed documents of 20 and T − 20 positions, each causal
    static Tensor PackedMask(long t)
    {
        var mask = full(2, 1, t, t, float.NegativeInfinity);
        for (long i = 0; i < t; i++)
        {
            mask[0, 0, i, TensorIndex.Slice(0, i + 1)] = tensor(0f);
            long start = i < 20 ? 0 : 20;
            mask[1, 0, i, TensorIndex.Slice(start, i + 1)] = tensor(0f);
        }
        return mask;
    }

    // Equal, or one bf16 step apart (the float32 exps differ in the last bits, so a rounding can tip), within an
    // absolute slack for values that cancel (gradients), and nearly all exactly equal.
    static void AssertBf16Close(Tensor actual, Tensor expected, double slack, string what)
    {
        var (a, e) = (actual.to(F32), expected.to(F32));
        var apart = (a - e).abs() > e.abs() * (1.0 / 128) + slack;
        Assert.Equal(0, apart.sum().item<long>());
        long differing = a.ne(e).sum().item<long>();
        Assert.True(differing * 50 <= a.numel(), $"{what}: {differing} of {a.numel()} values differ");
    }

    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Probabilities_and_the_scores_gradient_equal_the_composed_ops(bool broadcastMask)
    {
        Skip.IfNot(FusedMaskedSoftmax.Enabled, "the CPU has no 512-bit vectors");
        manual_seed(5);
        using var scope = NewDisposeScope();
        // 37 positions: two 16-wide blocks and a 5-value tail a row
        const long T = 37;
        var mask = broadcastMask ? PackedMask(T)[TensorIndex.Slice(0, 1)].contiguous() : PackedMask(T);
        var scores = (randn(2, 3, T, T) * 3).to(Bf16);
        var upstream = randn(2, 3, T, T).to(Bf16);

        var s1 = scores.detach().requires_grad_(true);
        var p1 = FusedMaskedSoftmax.Compute(s1, mask);
        p1.backward([upstream]);
        var s2 = scores.detach().requires_grad_(true);
        var p2 = Composed(s2, mask);
        p2.backward([upstream]);

        Assert.Equal(Bf16, p1.dtype);
        Assert.Equal(scores.shape, p1.shape);
        AssertBf16Close(p1, p2, 1e-30, "probabilities");
        Assert.Equal(Bf16, s1.grad!.dtype);
        AssertBf16Close(s1.grad!, s2.grad!, 1e-3, "scores gradient");
        // closed positions: exactly zero, forward and backward
        var closed = mask.expand(2, 3, T, T).eq(float.NegativeInfinity);
        Assert.True(closed.sum().item<long>() > 0);
        Assert.Equal(0, p1.to(F32).masked_select(closed).ne(0).sum().item<long>());
        Assert.Equal(0, s1.grad!.to(F32).masked_select(closed).ne(0).sum().item<long>());
        // each row sums to one within bf16 rounding
        Assert.True(p1.to(F32).sum(-1).sub(1).abs().max().item<float>() < 0.02f);

        using (no_grad())
            Assert.True(FusedMaskedSoftmax.Compute(scores, mask).to(F32).eq(p1.to(F32)).all().item<bool>());
    }

    [SkippableFact]
    public void A_row_the_mask_closes_wholly_is_nan_as_libtorch_makes_it()
    {
        Skip.IfNot(FusedMaskedSoftmax.Enabled, "the CPU has no 512-bit vectors");
        using var scope = NewDisposeScope();
        var mask = zeros(1, 1, 2, 20);
        mask[0, 0, 1] = tensor(float.NegativeInfinity);
        var scores = randn(1, 1, 2, 20).to(Bf16);
        var fused = FusedMaskedSoftmax.Compute(scores, mask).to(F32);
        var composed = Composed(scores, mask).to(F32);
        Assert.True(composed[0, 0, 1].isnan().all().item<bool>());
        Assert.True(fused[0, 0, 1].isnan().all().item<bool>());
        Assert.False(fused[0, 0, 0].isnan().any().item<bool>());
    }

    [SkippableFact]
    public void Float32_scores_a_mask_with_a_gradient_or_of_another_shape_are_refused()
    {
        Skip.IfNot(FusedMaskedSoftmax.Enabled, "the CPU has no 512-bit vectors");
        using var scope = NewDisposeScope();
        var scores = randn(2, 3, 8, 8).to(Bf16);
        var mask = zeros(2, 1, 8, 8);
        Assert.True(FusedMaskedSoftmax.Supports(scores, mask));
        Assert.False(FusedMaskedSoftmax.Supports(scores.to(F32), mask));
        Assert.False(FusedMaskedSoftmax.Supports(scores, mask.to(Bf16)));
        Assert.False(FusedMaskedSoftmax.Supports(scores, zeros(2, 1, 8, 8).requires_grad_(true)));
        Assert.False(FusedMaskedSoftmax.Supports(scores, zeros(3, 1, 8, 8)));
        Assert.False(FusedMaskedSoftmax.Supports(scores, zeros(2, 3, 8, 8)));
        Assert.False(FusedMaskedSoftmax.Supports(scores, zeros(2, 1, 8, 9)));
        var refused = Assert.Throws<ArgumentException>(() => FusedMaskedSoftmax.Compute(scores.to(F32), mask));
        Assert.Contains("bfloat16 scores", refused.Message);
    }
}
