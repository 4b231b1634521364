// The fused SwiGLU gating against the ops it replaces under bf16 autocast (both bf16 inputs cast to float32, silu, the
// product, the cast back, and autograd's backward of the same): output and both gradients, over a tensor that fills
// neither its chunks nor its vectors evenly, with saturating gates; a frozen input; no-grad mode; the MLP wiring it
// in. Skipped where the CPU has no 512-bit vectors (the MLP keeps the composed ops there, tested by every bf16 test).
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class FusedSwiGluTests
{
    const ScalarType Bf16 = ScalarType.BFloat16, F32 = ScalarType.Float32;

    static Tensor Composed(Tensor gate, Tensor up) =>
        (nn.functional.silu(gate.to(F32)) * up.to(F32)).to(Bf16);

    // Equal, or one bf16 step apart (float32 exp implementations differ in the last bits, so a rounding can tip);
    // and nearly all exactly equal.
    static void AssertBf16Equal(Tensor actual, Tensor expected, string what)
    {
        var (a, e) = (actual.to(F32), expected.to(F32));
        var apart = (a - e).abs() > e.abs() * (1.0 / 128) + 1e-30;
        Assert.Equal(0, apart.sum().item<long>());
        long differing = a.ne(e).sum().item<long>();
        Assert.True(differing * 1000 <= a.numel(), $"{what}: {differing} of {a.numel()} values differ");
    }

    [SkippableFact]
    public void Output_and_both_gradients_equal_the_composed_ops()
    {
        Skip.IfNot(FusedSwiGlu.Enabled, "the CPU has no 512-bit vectors");
        manual_seed(11);
        using var scope = NewDisposeScope();
        // 3 × 37 × 45 = 4,995 values: two full 2,048-value chunks and a short one with a scalar tail
        var gate = (randn(3, 37, 45) * 4).to(Bf16);
        gate.view(-1)[0] = tensor(-100f).to(Bf16);
        gate.view(-1)[1] = tensor(100f).to(Bf16);
        gate.view(-1)[2] = tensor(0f).to(Bf16);
        var up = (randn(3, 37, 45) * 2).to(Bf16);
        var upstream = randn(3, 37, 45).to(Bf16);

        var (g1, u1) = (gate.detach().requires_grad_(true), up.detach().requires_grad_(true));
        var h1 = FusedSwiGlu.Compute(g1, u1);
        h1.backward([upstream]);
        var (g2, u2) = (gate.detach().requires_grad_(true), up.detach().requires_grad_(true));
        var h2 = Composed(g2, u2);
        h2.backward([upstream]);

        Assert.Equal(Bf16, h1.dtype);
        Assert.Equal(gate.shape, h1.shape);
        AssertBf16Equal(h1, h2, "output");
        Assert.Equal(Bf16, g1.grad!.dtype);
        AssertBf16Equal(g1.grad!, g2.grad!, "gate gradient");
        AssertBf16Equal(u1.grad!, u2.grad!, "up gradient");
        Assert.Equal(0f, h1.view(-1)[2].to(F32).item<float>());
        // saturated gates: silu(100) is 100, silu(-100) rounds to (minus) zero or a denormal-sized value
        float saturated = (up.view(-1)[1].to(F32) * 100).to(Bf16).to(F32).item<float>();
        Assert.Equal(saturated, h1.view(-1)[1].to(F32).item<float>());
        Assert.True(Math.Abs(h1.view(-1)[0].to(F32).item<float>()) < 1e-30f);
    }

    [SkippableFact]
    public void A_frozen_input_gets_no_gradient_and_no_grad_mode_gives_the_same_output()
    {
        Skip.IfNot(FusedSwiGlu.Enabled, "the CPU has no 512-bit vectors");
        manual_seed(12);
        using var scope = NewDisposeScope();
        var gate = randn(5, 33).to(Bf16).requires_grad_(true);
        var up = randn(5, 33).to(Bf16);
        var h = FusedSwiGlu.Compute(gate, up);
        h.to(F32).pow(2).sum().backward();
        Assert.Null(up.grad);
        var reference = gate.detach().requires_grad_(true);
        Composed(reference, up).to(F32).pow(2).sum().backward();
        AssertBf16Equal(gate.grad!, reference.grad!, "gate gradient");
        using (no_grad())
            Assert.Equal(0, FusedSwiGlu.Compute(gate, up).ne(h.detach()).sum().item<long>());
    }

    [Fact]
    public void Float32_inputs_and_mismatched_shapes_are_refused()
    {
        using var scope = NewDisposeScope();
        Assert.False(FusedSwiGlu.Supports(ones(4, 8), ones(4, 8)));
        Assert.False(FusedSwiGlu.Supports(ones(4, 8).to(Bf16), ones(4, 9).to(Bf16)));
        Assert.Throws<ArgumentException>(() => FusedSwiGlu.Compute(ones(4, 8), ones(4, 8)));
    }

    [SkippableFact]
    public void The_autocast_mlp_gives_the_composed_output_and_weight_gradients()
    {
        Skip.IfNot(FusedSwiGlu.Enabled, "the CPU has no 512-bit vectors");
        manual_seed(13);
        using var scope = NewDisposeScope();
        using var mlp = new Mlp(24, 40);
        foreach (var layer in mlp.modules().OfType<ILinearLayer>())
            layer.ComputeDtype = Bf16;
        var weights = mlp.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var x = randn(2, 7, 24);

        var y = mlp.forward(x);
        Assert.Equal(F32, y.dtype);
        y.pow(2).sum().backward();
        var fused = weights.ToDictionary(w => w.Key, w => w.Value.grad!.clone());

        // bf16 autocast spelled out: each projection's input and weight cast to bf16, its output back to float32
        Tensor Linear(Tensor input, string name) =>
            nn.functional.linear(input.to(Bf16), weights[name + ".weight"].to(Bf16)).to(F32);
        mlp.zero_grad();
        var reference = Linear(nn.functional.silu(Linear(x, "gate_proj")) * Linear(x, "up_proj"), "down_proj");
        reference.pow(2).sum().backward();

        Assert.True(y.allclose(reference, rtol: 2e-2, atol: 1e-3), "output");
        foreach (var (name, grad) in fused)
            Assert.True(grad.allclose(weights[name].grad!, rtol: 5e-2, atol: 1e-3), name);
    }
}
