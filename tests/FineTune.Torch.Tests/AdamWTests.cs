// The optimizer's fused float32 step against AdamW written out in libtorch ops (PyTorch's formula): parameters with
// and without weight decay, sizes that are not a multiple of the vector width or of a work chunk, several steps so the
// bias corrections change; and clipping's global norm against libtorch's.
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class AdamWTests
{
    [Fact]
    public void Fused_step_follows_the_composed_formula()
    {
        manual_seed(4);
        using var scope = NewDisposeScope();
        const double lr = 1e-2, decay = 0.1, beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
        var weight = new Parameter(randn(300, 229));   // 68,700 elements: more than one chunk, a ragged tail
        var norm = new Parameter(randn(13));
        using var optimizer = new AdamWOptimizer([("layers.0.w", weight), ("layers.0.norm.weight", norm)], decay,
            beta1, beta2, eps);
        var reference = new[] { (weight.detach().clone(), true), (norm.detach().clone(), false) };
        var moments = reference.Select(r => (zeros_like(r.Item1), zeros_like(r.Item1))).ToArray();
        for (int step = 1; step <= 3; step++)
        {
            var grads = new[] { randn(300, 229), randn(13) };
            weight.grad = grads[0].clone();
            norm.grad = grads[1].clone();
            optimizer.Update(lr);
            double c1 = 1 - Math.Pow(beta1, step), c2 = 1 - Math.Pow(beta2, step);
            for (int i = 0; i < 2; i++)
            {
                var (p, decays) = reference[i];
                var (m, v) = moments[i];
                var g = grads[i];
                if (decays)
                    p.mul_(1 - lr * decay);
                m.mul_(beta1).add_(g, 1 - beta1);
                v.mul_(beta2).addcmul_(g, g, 1 - beta2);
                p.addcdiv_(m, v.sqrt().mul_(1 / Math.Sqrt(c2)).add_(eps), -lr / c1);
            }
            foreach (var (actual, expected) in new[] { (weight, reference[0].Item1), (norm, reference[1].Item1) })
            {
                double error = (actual.detach() - expected).abs().max().item<float>();
                Assert.True(error <= 1e-6 * expected.abs().max().item<float>(), $"step {step}: off by {error}");
            }
        }
    }

    [Fact]
    public void Clipping_measures_the_global_norm_and_scales_to_the_maximum()
    {
        manual_seed(5);
        using var scope = NewDisposeScope();
        var a = new Parameter(randn(1000));
        var b = new Parameter(randn(7, 9));
        a.grad = randn(1000) * 3;
        b.grad = randn(7, 9);
        double expected = Math.Sqrt(a.grad.square().sum().item<float>() + b.grad.square().sum().item<float>());
        using var optimizer = new AdamWOptimizer([("a", a), ("b", b)], 0, 0.9, 0.999, 1e-8);
        double norm = optimizer.ClipGradNorm(1.0);
        Assert.Equal(expected, norm, expected * 1e-5);
        double after = Math.Sqrt(a.grad.square().sum().item<float>() + b.grad.square().sum().item<float>());
        Assert.Equal(1.0, after, 1e-4);
    }

    [Fact]
    public void Clipping_folded_into_the_step_updates_exactly_as_clipping_in_place_then_stepping()
    {
        manual_seed(6);
        using var scope = NewDisposeScope();
        (Parameter A, Parameter B, AdamWOptimizer Optimizer) Make()
        {
            manual_seed(6);
            var a = new Parameter(randn(68_700));   // a ragged length: vectors and a scalar tail
            var b = new Parameter(randn(5, 3));
            return (a, b, new AdamWOptimizer([("a.weight", a), ("b.weight", b)], 0.1, 0.9, 0.999, 1e-8));
        }
        var (a1, b1, inPlace) = Make();
        var (a2, b2, folded) = Make();
        for (int step = 0; step < 3; step++)
        {
            manual_seed(100 + step);
            var (ga, gb) = (randn(68_700) * 4, randn(5, 3) * 4);
            (a1.grad, b1.grad, a2.grad, b2.grad) = (ga.clone(), gb.clone(), ga.clone(), gb.clone());
            double norm = inPlace.ClipGradNorm(1.0);
            inPlace.Update(1e-2);
            double coefficient = AdamWOptimizer.ClipCoefficient(folded.GradNorm(), 1.0);
            Assert.Equal(norm, folded.GradNorm());
            Assert.InRange(coefficient, 0.0, 0.5);   // the clip is active
            folded.Update(1e-2, coefficient);
            Assert.True(a1.detach().eq(a2.detach()).all().item<bool>(), $"step {step}: a differs");
            Assert.True(b1.detach().eq(b2.detach()).all().item<bool>(), $"step {step}: b differs");
            inPlace.ZeroGrad();
            folded.ZeroGrad();
        }
        Assert.Equal(1.0, AdamWOptimizer.ClipCoefficient(0.5, 1.0));
        Assert.Equal(1.0, AdamWOptimizer.ClipCoefficient(double.NaN, 1.0));
    }
}
