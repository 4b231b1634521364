// KTO, Kahneman–Tversky optimisation (Ethayarajh et al. 2024), for unpaired thumbs-up/down feedback. With the
// policy's log-ratio to the reference r = log π(y|x) − log π_ref(y|x) and z0 the batch's KL estimate (the mean
// log-ratio over mismatched prompt/response pairs, clamped at 0, no gradient):
//   desirable:   λ_D · (1 − σ(β (r − z0)))
//   undesirable: λ_U · (1 − σ(β (z0 − r)))
// 1 − σ(x) is written σ(−x).
namespace FineTune.Torch;

public static class KtoLoss
{
    /// <summary>z0: the mean of the mismatched pairs' log-ratios, at least 0, detached.</summary>
    public static Tensor KlEstimate(Tensor mismatchedLogRatios) =>
        mismatchedLogRatios.mean().detach().ClampMin(0);

    /// <param name="logRatios">(N,) r for each example</param>
    /// <param name="desirable">(N,) bool: thumbs up</param>
    /// <param name="kl">z0, a scalar tensor</param>
    /// <returns>(N,) each example's loss</returns>
    public static Tensor PerExample(Tensor logRatios, Tensor desirable, Tensor kl, double beta,
        double desirableWeight = 1.0, double undesirableWeight = 1.0)
    {
        var z = logRatios.Minus(kl).Times(beta);                       // β (r − z0)
        var whenDesirable = sigmoid(-z).Times(desirableWeight);        // λ_D (1 − σ(β (r − z0)))
        var whenUndesirable = sigmoid(z).Times(undesirableWeight);     // λ_U (1 − σ(β (z0 − r)))
        return where(desirable, whenDesirable, whenUndesirable);
    }
}
