// log π(token) of each next token in right-padded rows, under a causal mask: the per-token terms the policy-gradient
// losses need. Row b's column t scores token t + 1 given tokens 0..t; the mask keeps the tokens that count (a
// completion's), zero elsewhere and on padding. With a value head, the value of each state (the hidden state at t,
// before token t + 1 is chosen) and the policy's entropy there come from the same forward pass.
namespace FineTune.Torch;

public static class TokenLogProbs
{
    /// <summary>(B, T) log-probabilities and the (B, T) float mask of the tokens that count, T = longest row − 1
    /// (or <paramref name="length"/>, so that minibatches line up with their whole batch).</summary>
    public static (Tensor LogProbs, Tensor Mask) Compute(Llama model, IReadOnlyList<(int[] Ids, byte[] Mask)> rows,
        int? length = null)
    {
        var (inputs, positions, targets, mask) = Build(rows, length);
        var logits = model.forward(inputs, positions, Llama.CausalMask(inputs.shape[1]));          // (B, T, V)
        var logp = nn.functional.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
        return (logp * mask, mask);
    }

    /// <summary>As Compute, plus the value head's (B, T) values and the (B, T) entropy of the policy, all masked.
    /// </summary>
    public static (Tensor LogProbs, Tensor Values, Tensor Entropy, Tensor Mask) WithValues(Llama model,
        ValueHead head, IReadOnlyList<(int[] Ids, byte[] Mask)> rows, int? length = null)
    {
        var (inputs, positions, targets, mask) = Build(rows, length);
        var hidden = model.HiddenStates(inputs, positions, Llama.CausalMask(inputs.shape[1]));    // (B, T, C)
        var logits = nn.functional.linear(hidden, model.OutputWeight).to(ScalarType.Float32);     // (B, T, V)
        var all = nn.functional.log_softmax(logits, -1);
        var logp = all.gather(-1, targets.unsqueeze(-1)).squeeze(-1);
        Tensor entropy;
        using (no_grad())
            entropy = -(exp(all) * all).sum(-1);
        return (logp * mask, head.forward(hidden) * mask, entropy * mask, mask);
    }

    static (Tensor Inputs, Tensor Positions, Tensor Targets, Tensor Mask) Build(
        IReadOnlyList<(int[] Ids, byte[] Mask)> rows, int? length)
    {
        int B = rows.Count, T = length ?? rows.Max(r => r.Ids.Length) - 1;
        if (rows.Any(r => r.Ids.Length - 1 > T))
            throw new ArgumentException($"a row is longer than the length {T} + 1", nameof(rows));
        var inputs = new long[B * T];
        var targets = new long[B * T];
        var weights = new float[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
            {
                bool real = t + 1 < rows[b].Ids.Length;
                inputs[b * T + t] = real ? rows[b].Ids[t] : 0;
                targets[b * T + t] = real ? rows[b].Ids[t + 1] : 0;
                weights[b * T + t] = real && rows[b].Mask[t + 1] != 0 ? 1f : 0f;
            }
        var positions = ScalarOps.Range(T).unsqueeze(0).expand(B, T);
        return (tensor(inputs, [B, T]), positions, tensor(targets, [B, T]), tensor(weights, [B, T]));
    }
}
