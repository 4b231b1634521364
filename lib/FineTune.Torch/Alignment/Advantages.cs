// Advantage estimates for the policy-gradient recipes.
// GAE (Schulman et al. 2016), per response token t with the value head's V:
//   δ_t = r_t + γ V_{t+1} − V_t,   A_t = δ_t + γ λ A_{t+1},   returns R_t = A_t + V_t
// (V and A are 0 past the last response token). Whitening: (A − mean) / sqrt(var + 1e-8) over the masked tokens of
// the batch, var unbiased. GRPO (Shao et al. 2024): a completion's advantage is its reward minus its group's mean,
// divided by the group's std + 1e-4 unless scale_rewards is off (Dr. GRPO, Liu et al. 2025).
namespace FineTune.Torch;

public static class Advantages
{
    /// <param name="rewards">(B, T) per-token rewards, 0 on padding</param>
    /// <param name="values">(B, T) the value head's estimates</param>
    /// <param name="mask">(B, T) 1 on response tokens (one contiguous run per row), 0 on prompt and padding</param>
    public static (Tensor Advantages, Tensor Returns) Gae(Tensor rewards, Tensor values, Tensor mask, double gamma,
        double lambda)
    {
        using var _ = no_grad();
        var r = rewards * mask;
        var v = values.detach() * mask;
        long T = r.shape[1];
        var steps = new Tensor[T];
        Tensor? next = null;   // A_{t+1}
        for (long t = T - 1; t >= 0; t--)
        {
            var nextValue = t + 1 < T ? v.select(1, t + 1) : zeros_like(v.select(1, t));
            var delta = r.select(1, t).Plus(nextValue.Times(gamma)).Minus(v.select(1, t));
            var a = next is null ? delta : delta.Plus(next.Times(gamma * lambda));
            steps[t] = a;
            next = a;
        }
        var advantages = stack(steps, 1) * mask;
        return (advantages, advantages.Plus(v));
    }

    /// <summary>(x − mean) / sqrt(var + 1e-8) over the masked entries; 0 where the mask is 0.</summary>
    public static Tensor Whiten(Tensor x, Tensor mask)
    {
        using var _ = no_grad();
        var count = mask.sum();
        var mean = (x * mask).sum() / count;
        var centered = x.Minus(mean);
        var variance = (centered * centered * mask).sum() / count.Plus(-1).ClampMin(1);
        return centered * rsqrt(variance.Plus(1e-8)) * mask;
    }

    /// <param name="rewards">(groups · size,) each completion's reward, a group's completions adjacent</param>
    /// <param name="scaleByStd">divide by the group's (unbiased) std + 1e-4; false: Dr. GRPO, the mean only</param>
    public static Tensor Group(Tensor rewards, int groupSize, bool scaleByStd = true)
    {
        if (groupSize < 2)
            throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "a group needs at least 2 completions");
        if (rewards.shape[0] % groupSize != 0)
            throw new ArgumentException($"{rewards.shape[0]} rewards do not make groups of {groupSize}.",
                nameof(rewards));
        using var _ = no_grad();
        var grouped = rewards.view(-1, groupSize);                              // (groups, size)
        var centered = grouped.Minus(grouped.mean([1], keepdim: true));
        if (scaleByStd)
            centered = centered / grouped.std(1, unbiased: true, keepdim: true).Plus(1e-4);
        return centered.reshape(-1);
    }
}
