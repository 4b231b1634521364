// The fused rotary embedding against the composed one (RotaryEmbedding.Apply on the transposed heads, the path every
// other dtype keeps): output and the input's gradient, at a head size whose half fills vectors and one whose half
// does not, with real position angles; no-grad mode; and the shapes it declines.
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class FusedRopeTests
{
    static (Tensor Cos, Tensor Sin) Angles(long batch, long positions, int hd)
    {
        var inverse = exp(arange(0, hd, 2, dtype: ScalarType.Float32) * (-Math.Log(10000.0) / hd));  // (hd/2,)
        var angles = (arange(positions, dtype: ScalarType.Float32) + 3).unsqueeze(-1) * inverse;    // (T, hd/2)
        var full = cat([angles, angles], -1).unsqueeze(0).expand(batch, -1, -1).unsqueeze(1);        // (B, 1, T, hd)
        return (full.cos().contiguous(), full.sin().contiguous());
    }

    [Theory]
    [InlineData(48)]
    [InlineData(10)]
    public void Output_and_gradient_equal_the_composed_rotation(int hd)
    {
        manual_seed(9);
        using var scope = NewDisposeScope();
        var x = randn(2, 7, 3, hd);                                                          // (B, T, heads, hd)
        var (cos, sin) = Angles(2, 7, hd);
        var upstream = randn(2, 3, 7, hd);                                                   // (B, heads, T, hd)

        var fused = x.detach().requires_grad_(true);
        var y1 = RotaryEmbedding.ApplyToHeads(fused, cos, sin);
        (y1 * upstream).sum().backward();
        var composed = x.detach().requires_grad_(true);
        var y2 = RotaryEmbedding.Apply(composed.transpose(1, 2), cos, sin);
        (y2 * upstream).sum().backward();

        Assert.Equal(y2.shape, y1.shape);
        Assert.True(y1.allclose(y2, rtol: 1e-6, atol: 1e-6), "output");
        Assert.True(fused.grad!.allclose(composed.grad!, rtol: 1e-6, atol: 1e-6), "gradient");
        // the rotation keeps each pair's length: a real rotation, not a copy
        Assert.False(y1.allclose(x.transpose(1, 2), atol: 1e-3));
        using (no_grad())
            Assert.True(FusedRope.Compute(x, cos, sin).allclose(y1.transpose(1, 2), rtol: 1e-6, atol: 1e-6));
    }

    [Fact]
    public void Shapes_it_cannot_rotate_keep_the_composed_path()
    {
        using var scope = NewDisposeScope();
        var (cos, _) = Angles(2, 7, 8);
        Assert.True(FusedRope.Supports(zeros(2, 7, 3, 8), cos));
        Assert.False(FusedRope.Supports(zeros(2, 7, 3, 8, dtype: ScalarType.BFloat16), cos));
        Assert.False(FusedRope.Supports(zeros(2, 6, 3, 8), cos));   // positions differ
        Assert.False(FusedRope.Supports(zeros(1, 7, 3, 8), cos));   // batch differs (broadcast)
        Assert.False(FusedRope.Supports(zeros(2, 7, 3, 8), cos.to(ScalarType.BFloat16)));
    }
}
