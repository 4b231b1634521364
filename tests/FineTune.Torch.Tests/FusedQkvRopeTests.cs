// The fused split-rotate-scale of bf16 attention's inputs against the ops it replaces under bf16 autocast (each
// projection's bf16 output cast to float32, FusedRope, q's scale, the casts to bf16; autograd's backward of the same):
// the same bits forward and backward, for grouped-query heads, a head size whose half fills no vector evenly and a
// length that fills no block; an output nobody uses; no-grad mode; refusals; the attention module wiring it in.
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class FusedQkvRopeTests
{
    const ScalarType Bf16 = ScalarType.BFloat16, F32 = ScalarType.Float32;

    // (B, 1, T, hd) angles as the model builds them: each position's frequencies, the halves repeated
    static (Tensor Cos, Tensor Sin) Angles(long batch, long length, int headDim)
    {
        var inverse = pow(10000.0, -arange(0, headDim, 2, dtype: ScalarType.Float64) / headDim).to(F32);
        var angles = arange(length, dtype: F32).unsqueeze(-1) * inverse;                      // (T, hd/2)
        angles = angles.unsqueeze(0).expand(batch, -1, -1) + rand(batch, 1, 1);              // rows differ
        return (cat([angles.cos(), angles.cos()], -1).unsqueeze(1), cat([angles.sin(), angles.sin()], -1).unsqueeze(1));
    }

    // The composed path the attention module took before: q and k rotated in float32, q scaled, all cast to bf16
    static (Tensor Q, Tensor K, Tensor V) Composed(Tensor qkv, Tensor cos, Tensor sin, int heads, int kvHeads, int hd)
    {
        var (b, t) = (qkv.shape[0], qkv.shape[1]);
        Tensor Part(long from, int count) => qkv.narrow(2, from * hd, count * hd).to(F32).view(b, t, count, hd);
        var q = FusedRope.Compute(Part(0, heads), cos, sin).transpose(1, 2);
        var k = FusedRope.Compute(Part(heads, kvHeads), cos, sin).transpose(1, 2);
        var v = Part(heads + kvHeads, kvHeads).transpose(1, 2);
        return (q.Times(1 / Math.Sqrt(hd)).to(Bf16), k.to(Bf16), v.to(Bf16));
    }

    static void AssertSameBits(Tensor actual, Tensor expected, string what)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(Bf16, actual.dtype);
        Assert.True(Same(actual, expected), $"{what} differs");
    }

    static bool Same(Tensor a, Tensor b) => a.to(F32).ne(b.to(F32)).sum().item<long>() == 0;

    [Theory]
    [InlineData(4, 4, 20)]    // half 10: one 8-lane vector and a scalar tail
    [InlineData(6, 2, 48)]    // grouped-query heads, the 15M shape's head size
    public void Forward_and_backward_give_the_composed_bits(int heads, int kvHeads, int hd)
    {
        manual_seed(21);
        using var scope = NewDisposeScope();
        const long B = 2, T = 37;   // one full 32-position block and a short one
        var qkv = (randn(B, T, (heads + 2 * kvHeads) * hd) * 3).to(Bf16);
        var (cos, sin) = Angles(B, T, hd);
        var (dq, dk, dv) = (randn(B, heads, T, hd).to(Bf16), randn(B, kvHeads, T, hd).to(Bf16),
            randn(B, kvHeads, T, hd).to(Bf16));

        var fusedInput = qkv.detach().requires_grad_(true);
        var (q, k, v) = FusedQkvRope.Compute(fusedInput, cos, sin, heads, kvHeads, hd);
        autograd.backward([q, k, v], [dq, dk, dv]);
        var composedInput = qkv.detach().requires_grad_(true);
        var (q2, k2, v2) = Composed(composedInput, cos, sin, heads, kvHeads, hd);
        autograd.backward([q2, k2, v2], [dq, dk, dv]);

        AssertSameBits(q, q2, "q");
        AssertSameBits(k, k2, "k");
        AssertSameBits(v, v2, "v");
        AssertSameBits(fusedInput.grad!, composedInput.grad!, "the projections' gradient");
        Assert.True(fusedInput.grad!.to(F32).abs().sum().item<float>() > 0);
    }

    [Fact]
    public void An_unused_output_gets_a_zero_gradient_and_no_grad_mode_gives_the_same_bits()
    {
        manual_seed(22);
        using var scope = NewDisposeScope();
        const int heads = 2, kvHeads = 2, hd = 16;
        var qkv = randn(1, 5, (heads + 2 * kvHeads) * hd).to(Bf16).requires_grad_(true);
        var (cos, sin) = Angles(1, 5, hd);
        var (q, _, v) = FusedQkvRope.Compute(qkv, cos, sin, heads, kvHeads, hd);
        (q.to(F32).sum() + v.to(F32).pow(2).sum()).backward();
        var grad = qkv.grad!.to(F32);
        Assert.Equal(0f, grad.narrow(2, heads * hd, kvHeads * hd).abs().sum().item<float>());
        Assert.True(grad.narrow(2, 0, heads * hd).abs().sum().item<float>() > 0);
        // v's gradient is 2v, moved back as it is
        Assert.True(Same(grad.narrow(2, (heads + kvHeads) * hd, kvHeads * hd),
            (v.detach().to(F32) * 2).to(Bf16).transpose(1, 2).reshape(1, 5, kvHeads * hd)));
        using (no_grad())
        {
            var (q0, k0, v0) = FusedQkvRope.Compute(qkv, cos, sin, heads, kvHeads, hd);
            Assert.True(Same(q0, q.detach()) && Same(v0, v.detach()));
            Assert.False(k0.requires_grad);
        }
    }

    [Fact]
    public void Float32_projections_a_wrong_width_and_an_odd_head_size_are_refused()
    {
        using var scope = NewDisposeScope();
        var (cos, sin) = Angles(1, 3, 8);
        Assert.False(FusedQkvRope.Supports(ones(1, 3, 24), cos, sin, 1, 1, 8));
        Assert.False(FusedQkvRope.Supports(ones(1, 3, 32).to(Bf16), cos, sin, 1, 1, 8));
        Assert.False(FusedQkvRope.SupportsAngles(cos, sin, 1, 4, 8));
        Assert.False(FusedQkvRope.SupportsAngles(ones(1, 1, 3, 7), ones(1, 1, 3, 7), 1, 3, 7));
        Assert.Throws<ArgumentException>(() => FusedQkvRope.Compute(ones(1, 3, 24), cos, sin, 1, 1, 8));
    }

    [Fact]
    public void The_autocast_attention_gives_the_composed_output_and_weight_gradients()
    {
        manual_seed(23);
        using var scope = NewDisposeScope();
        var config = TestModels.Tiny(bias: true);   // 32 wide, 4 heads over 2 key/value heads, q/k/v biases
        using var attention = new Attention(config, useSdpa: true) { ComputeDtype = Bf16 };
        foreach (var layer in attention.modules().OfType<ILinearLayer>())
            layer.ComputeDtype = Bf16;
        var weights = attention.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        const long B = 2, T = 9;
        int hd = config.HeadDim;
        var x = randn(B, T, 32);
        var (cos, sin) = Angles(B, T, hd);
        var mask = Llama.CausalMask(T).expand(B, 1, T, T);

        var y = attention.forward(x, cos, sin, mask, null, 0);
        y.pow(2).sum().backward();
        var fused = weights.ToDictionary(w => w.Key, w => w.Value.grad!.clone());

        // bf16 autocast spelled out: each projection alone, rope in float32, both products in bf16
        Tensor Linear(Tensor input, string name) => nn.functional.linear(input.to(Bf16),
            weights[name + ".weight"].to(Bf16), weights.GetValueOrDefault(name + ".bias")?.to(Bf16)).to(F32);
        attention.zero_grad();
        Tensor Heads(string name, int count) => Linear(x, name).view(B, T, count, hd);
        var q = FusedRope.Compute(Heads("q_proj", 4), cos, sin).transpose(1, 2);
        var k = FusedRope.Compute(Heads("k_proj", 2), cos, sin).transpose(1, 2).repeat_interleave(2, dim: 1);
        var v = Heads("v_proj", 2).transpose(1, 2).repeat_interleave(2, dim: 1);
        var scores = matmul(q.Times(1 / Math.Sqrt(hd)).to(Bf16), k.to(Bf16).transpose(-2, -1)) + mask.to(Bf16);
        var heads = matmul(softmax(scores, -1), v.to(Bf16)).transpose(1, 2).reshape(B, T, 32);
        var reference = Linear(heads.to(F32), "o_proj");
        reference.pow(2).sum().backward();

        Assert.True(y.allclose(reference, rtol: 2e-2, atol: 1e-3), "output");
        Assert.Equal(7, fused.Count);   // four weights, three biases
        foreach (var (name, grad) in fused)
            Assert.True(grad.allclose(weights[name].grad!, rtol: 5e-2, atol: 1e-3), name);
    }
}
