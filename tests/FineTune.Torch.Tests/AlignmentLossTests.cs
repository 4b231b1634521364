// The preference and RL losses against values worked out by hand on tiny tensors (each expected value is written as
// the arithmetic that gives it), with inputs chosen so that the usual slips give other numbers: a swapped sign or
// argument, min for max, a lost mask, the biased variance, the clip applied to the wrong side.
using static TorchSharp.torch;

namespace FineTune.Torch.Tests;

public class AlignmentLossTests
{
    static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    static float[] Values(Tensor t) => t.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray();

    static void Near(double[] expected, Tensor actual, int precision = 5)
    {
        var got = Values(actual);
        Assert.Equal(expected.Length, got.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - got[i]) < Math.Pow(10, -precision),
                $"[{i}]: expected {expected[i]}, got {got[i]} (all: {string.Join(", ", got)})");
    }

    [Fact]
    public void Bradley_Terry_is_minus_log_sigmoid_of_the_score_gap_less_the_margin()
    {
        var chosen = tensor(new float[] { 2, 0 });
        var rejected = tensor(new float[] { 1, 1 });
        Near([Math.Log(1 + Math.Exp(-1)), Math.Log(1 + Math.Exp(1))], RewardLoss.BradleyTerry(chosen, rejected));
        // the margin is subtracted: the pair leading by 1 now needs 1.5
        Near([-Math.Log(Sigmoid(0.5)), -Math.Log(Sigmoid(-1.5))], RewardLoss.BradleyTerry(chosen, rejected, 0.5));
    }

    [Fact]
    public void Bradley_Terry_gradient_raises_chosen_and_lowers_rejected()
    {
        var chosen = tensor(new float[] { 0.3f }, requires_grad: true);
        var rejected = tensor(new float[] { 0.1f }, requires_grad: true);
        RewardLoss.BradleyTerry(chosen, rejected).sum().backward();
        // d/dc −log σ(c − r) = −(1 − σ(c − r)); d/dr = +(1 − σ(c − r))
        Near([-(1 - Sigmoid(0.2))], chosen.grad!);
        Near([1 - Sigmoid(0.2)], rejected.grad!);
    }

    [Fact]
    public void Kto_weighs_desirable_and_undesirable_examples_around_the_kl_estimate()
    {
        var kl = KtoLoss.KlEstimate(tensor(new float[] { 0.1f, 0.3f }));
        Near([0.2], kl.reshape(1));
        var loss = KtoLoss.PerExample(tensor(new float[] { 0.5f, -0.2f, 0.3f }), tensor(new[] { true, false, false }),
            kl, beta: 2, desirableWeight: 1, undesirableWeight: 1.5);
        Near([
            1 - Sigmoid(2 * (0.5 - 0.2)),            // desirable: λ_D (1 − σ(β (r − z0)))
            1.5 * (1 - Sigmoid(2 * (0.2 + 0.2))),    // undesirable: λ_U (1 − σ(β (z0 − r)))
            1.5 * (1 - Sigmoid(2 * (0.2 - 0.3))),
        ], loss);
        // z0 never goes below 0, and carries no gradient
        var mismatched = tensor(new float[] { -0.5f, -0.1f }, requires_grad: true);
        var clamped = KtoLoss.KlEstimate(mismatched);
        Near([0], clamped.reshape(1));
        Assert.False(clamped.requires_grad);
    }

    [Fact]
    public void Gae_runs_backwards_over_each_rows_response_and_ignores_padding()
    {
        const double gamma = 0.9, lambda = 0.8;
        var rewards = tensor(new float[] { 0, 0, 1, 0, 2, 7 }, [2, 3]);       // 7: padding, must not count
        var values = tensor(new float[] { 0.5f, 0.4f, 0.3f, 0.1f, 0.2f, 9 }, [2, 3]);
        var mask = tensor(new float[] { 1, 1, 1, 1, 1, 0 }, [2, 3]);
        var (advantages, returns) = Advantages.Gae(rewards, values, mask, gamma, lambda);
        double a02 = 1 - 0.3;                                      // δ = r + γ·0 − V
        double a01 = (0 + gamma * 0.3 - 0.4) + gamma * lambda * a02;
        double a00 = (0 + gamma * 0.4 - 0.5) + gamma * lambda * a01;
        double a11 = 2 - 0.2;                                      // the padded V (9) is not V_{t+1}
        double a10 = (0 + gamma * 0.2 - 0.1) + gamma * lambda * a11;
        Near([a00, a01, a02, a10, a11, 0], advantages);
        Near([a00 + 0.5, a01 + 0.4, a02 + 0.3, a10 + 0.1, a11 + 0.2, 0], returns);
    }

    [Fact]
    public void Whitening_uses_the_masked_entries_and_the_unbiased_variance()
    {
        var x = tensor(new float[] { 1, 2, 3, 100 });
        var mask = tensor(new float[] { 1, 1, 1, 0 });
        // mean 2, unbiased variance (1 + 0 + 1) / 2 = 1
        Near([-1, 0, 1, 0], Advantages.Whiten(x, mask), 4);
    }

    [Fact]
    public void Grpo_advantages_are_normalised_within_each_group()
    {
        var rewards = tensor(new float[] { 1, 0, 0, 1, 2, 2, 2, 5, 3, 3, 3, 3 });
        double std1 = Math.Sqrt(4 * 0.25 / 3), std2 = Math.Sqrt((3 * 0.5625 + 5.0625) / 3);
        Near([
            0.5 / (std1 + 1e-4), -0.5 / (std1 + 1e-4), -0.5 / (std1 + 1e-4), 0.5 / (std1 + 1e-4),
            -0.75 / (std2 + 1e-4), -0.75 / (std2 + 1e-4), -0.75 / (std2 + 1e-4), 2.25 / (std2 + 1e-4),
            0, 0, 0, 0,                           // a group whose completions all scored alike teaches nothing
        ], Advantages.Group(rewards, 4), 4);
        Near([0.5, -0.5, -0.5, 0.5, -0.75, -0.75, -0.75, 2.25, 0, 0, 0, 0],
            Advantages.Group(rewards, 4, scaleByStd: false));
        Assert.Throws<ArgumentException>(() => Advantages.Group(rewards, 5));
        Assert.Throws<ArgumentOutOfRangeException>(() => Advantages.Group(rewards, 1));
    }

    [Fact]
    public void Ppo_clips_the_ratio_against_the_advantage_and_the_value_around_the_old_value()
    {
        var logp = tensor(new float[] { -1.0f, -0.5f, -2.0f, 5 }, [1, 4]);      // the 4th token is padding
        var old = tensor(new float[] { -1.2f, -0.5f, -1.5f, -5 }, [1, 4]);
        var advantages = tensor(new float[] { 1, -1, 2, 100 }, [1, 4]);
        var values = tensor(new float[] { 0.5f, 1.0f, 0.0f, 50 }, [1, 4]);
        var oldValues = tensor(new float[] { 0.4f, 0.2f, 0.1f, 0 }, [1, 4]);
        var returns = tensor(new float[] { 1.0f, 1.5f, 0.3f, 0 }, [1, 4]);
        var mask = tensor(new float[] { 1, 1, 1, 0 }, [1, 4]);
        var losses = PpoLoss.Compute(logp, old, advantages, values, oldValues, returns, mask, clipRange: 0.2,
            valueClipRange: 0.2);
        double r0 = Math.Exp(0.2), r2 = Math.Exp(-0.5);
        double t0 = Math.Max(-1 * r0, -1 * 1.2);      // ratio 1.22 clipped to 1.2: the clipped term is larger
        double t1 = Math.Max(1.0, 1.0);               // ratio 1
        double t2 = Math.Max(-2 * r2, -2 * 0.8);      // ratio 0.61, A > 0: the unclipped term is larger
        Near([(t0 + t1 + t2) / 3], losses.Policy.reshape(1));
        Assert.Equal(1.0 / 3, losses.ClipFraction, 5);
        // value: t0 inside the clip, t1 clipped 1.0 → 0.4 (error 1.21 beats 0.25), t2 inside
        Near([0.5 * (0.25 + 1.21 + 0.09) / 3], losses.Value.reshape(1));
        Assert.Equal(1.0 / 3, losses.ValueClipFraction, 5);
        Assert.Equal(0.5 * (0.04 + 0 + 0.25) / 3, losses.ApproxKl, 5);
    }

    [Fact]
    public void Ppo_rewards_charge_the_kl_per_token_and_pay_the_score_at_the_last_response_token()
    {
        var scores = tensor(new float[] { 2.0f, -1.0f });
        var old = tensor(new float[] { -1, -0.5f, -2, -3, -1, -1, 0, 0 }, [2, 4]);
        var reference = tensor(new float[] { -1.1f, -0.7f, -2, -9, -1, -1.5f, 0, 0 }, [2, 4]);
        var mask = tensor(new float[] { 1, 1, 1, 0, 0, 1, 1, 0 }, [2, 4]);     // row 2: a prompt token first
        var rewards = PpoLoss.ShapedRewards(scores, old, reference, mask, klCoefficient: 0.1);
        Near([-0.01, -0.02, 2.0, 0, 0, -0.05, 0 - 1.0, 0], rewards);
    }

    [Fact]
    public void The_adaptive_kl_coefficient_moves_towards_its_target_by_at_most_a_fifth_of_the_step()
    {
        var fixedKl = new KlController(0.2);
        fixedKl.Update(12, 256);
        Assert.Equal(0.2, fixedKl.Value);
        var adaptive = new KlController(0.2, target: 6, horizon: 10000);
        adaptive.Update(12, 256);                    // KL twice the target: error clipped to +0.2
        Assert.Equal(0.2 * (1 + 0.2 * 256 / 10000), adaptive.Value, 12);
        adaptive.Update(5.4, 256);                   // 10% under
        Assert.Equal(0.2 * (1 + 0.2 * 256 / 10000) * (1 - 0.1 * 256 / 10000), adaptive.Value, 12);
    }

    [Fact]
    public void Grpo_loss_clips_by_the_sign_of_the_advantage_adds_k3_kl_and_normalises_as_asked()
    {
        var logp = tensor(new float[] { -1, -1, -1, -2, -2, 0 }, [2, 3]);
        var old = tensor(new float[] { -1.2f, -0.5f, -0.5f, -2, -1.5f, 0 }, [2, 3]);
        var reference = tensor(new float[] { -1.1f, -1, -1, -2, -2, 0 }, [2, 3]);
        var advantages = tensor(new float[] { 1, -1 });
        var mask = tensor(new float[] { 1, 1, 1, 1, 1, 0 }, [2, 3]);
        double r0 = Math.Exp(0.2), r2 = Math.Exp(-0.5);
        double kl0 = Math.Exp(-0.1) + 0.1 - 1;
        // row 0, A = 1: −min(r·A, clip(r, 0.8, 1.28)·A); row 1, A = −1
        double[] row0 = [-Math.Min(r0, r0) + 0.1 * kl0, -Math.Min(r2, 0.8), -Math.Min(r2, 0.8)];
        double[] row1 = [1, -Math.Min(-r2, -0.8)];
        var token = GrpoLoss.Compute(logp, old, reference, advantages, mask, 0.2, 0.28, beta: 0.1,
            GrpoNormalization.Token);
        Near([(row0.Sum() + row1.Sum()) / 5], token.Loss.reshape(1));
        var sequence = GrpoLoss.Compute(logp, old, reference, advantages, mask, 0.2, 0.28, beta: 0.1,
            GrpoNormalization.Sequence);
        Near([(row0.Sum() / 3 + row1.Sum() / 2) / 2], sequence.Loss.reshape(1));
        // only row 1's second token was clipped where it mattered (ratio 0.61 < 0.8 with A < 0); row 0's ratios of
        // 0.61 have A > 0, where the lower clip does not bind
        Assert.Equal(0.2, token.ClipFraction, 5);
        Assert.Equal(kl0 / 5, token.MeanKl, 5);
        var noKl = GrpoLoss.Compute(logp, old, null, advantages, mask, 0.2, 0.28, beta: 0,
            GrpoNormalization.Token);
        Near([(row0.Sum() - 0.1 * kl0 + row1.Sum()) / 5], noKl.Loss.reshape(1));
    }
}
