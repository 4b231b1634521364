// The fused RMSNorm against the same norm composed from libtorch ops (the path every other dtype keeps): output, the
// input's and the weight's gradients under a scaled upstream gradient, on rows that fill no vector evenly and on a
// transposed (non-contiguous) input; a frozen weight; and the module choosing it for float32 only.
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class FusedRmsNormTests
{
    static Tensor Composed(Tensor x, Tensor weight, double eps) =>
        weight * (x * rsqrt((x * x).mean([-1], keepdim: true) + eps));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Output_and_both_gradients_equal_the_composed_norm(bool transposed)
    {
        manual_seed(7);
        using var scope = NewDisposeScope();
        var source = randn(3, 37, 5) * 3;
        // (3, 5, 37): contiguous, or a transposed view of the same shape
        var x = transposed ? source.transpose(1, 2) : source.transpose(1, 2).contiguous();
        var weight = randn(37);
        var upstream = randn(3, 5, 37);

        var (x1, w1) = (x.detach().requires_grad_(true), weight.detach().requires_grad_(true));
        var y1 = FusedRmsNorm.Compute(x1, w1, 1e-5);
        (y1 * upstream).sum().mul(0.5).backward();
        var (x2, w2) = (x.detach().requires_grad_(true), weight.detach().requires_grad_(true));
        var y2 = Composed(x2, w2, 1e-5);
        (y2 * upstream).sum().mul(0.5).backward();

        Assert.Equal(new long[] { 3, 5, 37 }, y1.shape);
        Assert.True(y1.allclose(y2, rtol: 1e-5, atol: 1e-6), "output");
        Assert.True(x1.grad!.allclose(x2.grad!, rtol: 1e-4, atol: 1e-5), "input gradient");
        Assert.True(w1.grad!.allclose(w2.grad!, rtol: 1e-4, atol: 1e-5), "weight gradient");
    }

    [Fact]
    public void A_frozen_weight_gets_no_gradient_and_no_grad_mode_computes_the_same_output()
    {
        manual_seed(8);
        using var scope = NewDisposeScope();
        var x = randn(4, 19).requires_grad_(true);
        var weight = randn(19);
        FusedRmsNorm.Compute(x, weight, 1e-6).pow(2).sum().backward();
        Assert.Null(weight.grad);
        var reference = x.detach().requires_grad_(true);
        Composed(reference, weight, 1e-6).pow(2).sum().backward();
        Assert.True(x.grad!.allclose(reference.grad!, rtol: 1e-4, atol: 1e-5));
        using (no_grad())
            Assert.True(FusedRmsNorm.Compute(x, weight, 1e-6).allclose(Composed(x, weight, 1e-6), rtol: 1e-5));
    }

    [Fact]
    public void The_module_fuses_float32_only_and_keeps_libtorchs_ops_for_bf16()
    {
        using var scope = NewDisposeScope();
        using var norm = new RmsNorm(8, 1e-5);
        Assert.True(FusedRmsNorm.Supports(ones(2, 8), ones(8)));
        Assert.False(FusedRmsNorm.Supports(ones(2, 8, dtype: ScalarType.BFloat16), ones(8)));
        Assert.False(FusedRmsNorm.Supports(ones(2, 7), ones(8)));
        var x = randn(2, 8);
        // a bf16 input goes through the composed norm, float32 inside, to the same values within bf16 rounding
        var low = norm.forward(x.to(ScalarType.BFloat16));
        Assert.True(low.to(ScalarType.Float32).allclose(norm.forward(x), rtol: 1e-2, atol: 1e-2));
    }
}
