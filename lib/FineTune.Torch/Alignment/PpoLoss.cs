// PPO's losses (Schulman et al. 2017) as TRL and the InstructGPT recipe use them, per response token, averaged over
// the mask's tokens:
//   ratio = exp(log π − log π_old)
//   policy = mean(max(−A · ratio, −A · clip(ratio, 1 − ε, 1 + ε)))
//   value  = ½ mean(max((V − R)², (V_old + clip(V − V_old, −ε_v, ε_v) − R)²))
// plus the numbers a run watches: the share of tokens where clipping bit, approximate KL ½ mean((log π − log
// π_old)²), and the share where the value clip bit. Rewards: each token pays −β_KL (log π_old − log π_ref),
// and the last response token also gets the reward model's score.
namespace FineTune.Torch;

public sealed record PpoLosses(Tensor Policy, Tensor Value, double ClipFraction, double ApproxKl,
    double ValueClipFraction);

public static class PpoLoss
{
    /// <param name="logProbs">(B, T) log π of the response tokens under the policy being optimised</param>
    /// <param name="oldLogProbs">(B, T) the same under the policy that generated the rollout</param>
    /// <param name="mask">(B, T) 1 on response tokens</param>
    public static PpoLosses Compute(Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor values,
        Tensor oldValues, Tensor returns, Tensor mask, double clipRange, double valueClipRange)
    {
        var logRatio = logProbs.Minus(oldLogProbs);
        var ratio = exp(logRatio);
        var unclipped = -advantages * ratio;
        var clipped = -advantages * ratio.Clamp(1 - clipRange, 1 + clipRange);
        var policy = MaskedMean(maximum(unclipped, clipped), mask);

        var valueClipped = oldValues.Plus((values.Minus(oldValues)).Clamp(-valueClipRange, valueClipRange));
        var error = values.Minus(returns);
        var clippedError = valueClipped.Minus(returns);
        var value = MaskedMean(maximum(error * error, clippedError * clippedError), mask).Times(0.5);

        using var _ = no_grad();
        double clipFraction = MaskedMean(clipped.gt(unclipped).to(ScalarType.Float32), mask).item<float>();
        double approxKl = MaskedMean(logRatio * logRatio, mask).Times(0.5).item<float>();
        double valueClipFraction = MaskedMean((clippedError * clippedError).gt(error * error).to(ScalarType.Float32),
            mask).item<float>();
        return new PpoLosses(policy, value, clipFraction, approxKl, valueClipFraction);
    }

    /// <summary>Per-token rewards (B, T): −klCoef · (log π_old − log π_ref) on each response token, plus the
    /// score on the row's last one.</summary>
    public static Tensor ShapedRewards(Tensor scores, Tensor oldLogProbs, Tensor referenceLogProbs, Tensor mask,
        double klCoefficient)
    {
        using var _ = no_grad();
        var rewards = oldLogProbs.Minus(referenceLogProbs).Times(-klCoefficient) * mask;
        // the last response token of each row: the largest position the mask keeps
        var positions = ScalarOps.Range(mask.shape[1], ScalarType.Float32).unsqueeze(0);
        var last = (mask * positions).argmax(1).unsqueeze(1);
        return rewards.scatter_add(1, last, scores.unsqueeze(1).to(rewards.dtype));
    }

    public static Tensor MaskedMean(Tensor x, Tensor mask) => (x * mask).sum() / mask.sum().ClampMin(1);
}

/// <summary>The KL coefficient: fixed, or adapted towards a target KL (Ziegler et al. 2019): β ← β · (1 + e · n /
/// H) with e = clip(KL / target − 1, −0.2, 0.2), n the rollouts of the step and H the horizon.</summary>
public sealed class KlController(double initial, double? target = null, double horizon = 10000)
{
    public double Value { get; private set; } = initial;

    /// <summary>Sets β (a resumed run continues from the coefficient its checkpoint stored).</summary>
    public void Reset(double value) => Value = value;

    public void Update(double currentKl, int rollouts)
    {
        if (target is not { } goal)
            return;
        double error = Math.Clamp(currentKl / goal - 1, -0.2, 0.2);
        Value *= 1 + error * rollouts / horizon;
    }
}
