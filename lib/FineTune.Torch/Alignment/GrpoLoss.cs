// GRPO's loss (Shao et al. 2024, as TRL's GRPOTrainer computes it), per completion token with A the completion's
// group advantage:
//   ratio = exp(log π − log π_old)
//   loss_t = −min(ratio · A, clip(ratio, 1 − ε_low, 1 + ε_high) · A) + β · KL_t
//   KL_t = exp(log π_ref − log π) − (log π_ref − log π) − 1 (the k3 estimator, ≥ 0; skipped when β = 0)
// normalised per token over the whole batch (DAPO: long completions weigh by their length) or per sequence (the
// paper: each completion's mean, then the mean over completions). Clip fraction counts tokens where the clip changed
// the objective: ratio < 1 − ε_low with A < 0, or ratio > 1 + ε_high with A > 0.
namespace FineTune.Torch;

/// <summary>token: Σ loss_t / Σ tokens over the batch (DAPO); sequence: mean over completions of their token
/// mean.</summary>
public enum GrpoNormalization { Token, Sequence }

public sealed record GrpoLosses(Tensor Loss, double ClipFraction, double MeanKl);

public static class GrpoLoss
{
    /// <param name="logProbs">(B, T) log π of the completion tokens</param>
    /// <param name="oldLogProbs">(B, T) under the policy that sampled them</param>
    /// <param name="referenceLogProbs">(B, T) under the reference, or null when β = 0</param>
    /// <param name="advantages">(B,) one per completion</param>
    /// <param name="mask">(B, T) 1 on completion tokens</param>
    public static GrpoLosses Compute(Tensor logProbs, Tensor oldLogProbs, Tensor? referenceLogProbs,
        Tensor advantages, Tensor mask, double epsilonLow, double epsilonHigh, double beta,
        GrpoNormalization normalization)
    {
        var (perToken, clipFraction, meanKl) = PerToken(logProbs, oldLogProbs, referenceLogProbs, advantages, mask,
            epsilonLow, epsilonHigh, beta);
        var loss = normalization == GrpoNormalization.Token
            ? perToken.sum() / mask.sum().ClampMin(1)
            : (perToken.sum(1) / mask.sum(1).ClampMin(1)).mean();
        return new GrpoLosses(loss, clipFraction, meanKl);
    }

    /// <summary>loss_t on the masked tokens (0 elsewhere), attached to the graph, for a caller that normalises over
    /// more than one batch; with the clip fraction and mean KL of these tokens.</summary>
    public static (Tensor PerToken, double ClipFraction, double MeanKl) PerToken(Tensor logProbs, Tensor oldLogProbs,
        Tensor? referenceLogProbs, Tensor advantages, Tensor mask, double epsilonLow, double epsilonHigh,
        double beta)
    {
        var ratio = exp(logProbs.Minus(oldLogProbs));
        var a = advantages.unsqueeze(1);
        var perToken = -minimum(ratio * a, ratio.Clamp(1 - epsilonLow, 1 + epsilonHigh) * a);
        Tensor? kl = null;
        if (beta != 0)
        {
            if (referenceLogProbs is null)
                throw new ArgumentNullException(nameof(referenceLogProbs), "β ≠ 0 needs the reference's log-probs");
            var d = referenceLogProbs.Minus(logProbs);
            kl = exp(d).Minus(d).Plus(-1);
            perToken = perToken.Plus(kl.Times(beta));
        }
        var masked = perToken * mask;
        using var _ = no_grad();
        var low = ratio.Below(1 - epsilonLow).logical_and(a.Below(0));
        var high = ratio.Above(1 + epsilonHigh).logical_and(a.Above(0));
        double clipFraction = PpoLoss.MaskedMean(low.logical_or(high).to(ScalarType.Float32), mask).item<float>();
        double meanKl = kl is null ? 0 : PpoLoss.MaskedMean(kl, mask).item<float>();
        return (masked, clipFraction, meanKl);
    }
}
