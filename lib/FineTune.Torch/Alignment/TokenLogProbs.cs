// log π(token) of each next token in right-padded rows, under a causal mask: the per-token terms the policy-gradient
// losses need. Row b's column t scores token t + 1 given tokens 0..t; the mask keeps the tokens that count (a
// completion's), zero elsewhere and on padding.
namespace FineTune.Torch;

public static class TokenLogProbs
{
    /// <summary>(B, T) log-probabilities and the (B, T) float mask of the tokens that count, T = longest row − 1.
    /// </summary>
    public static (Tensor LogProbs, Tensor Mask) Compute(Llama model, IReadOnlyList<(int[] Ids, byte[] Mask)> rows)
    {
        int B = rows.Count, T = rows.Max(r => r.Ids.Length) - 1;
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
        var logits = model.forward(tensor(inputs, [B, T]), positions, Llama.CausalMask(T));        // (B, T, V)
        var logp = nn.functional.log_softmax(logits, -1).gather(-1, tensor(targets, [B, T]).unsqueeze(-1)).squeeze(-1);
        var mask = tensor(weights, [B, T]);
        return (logp * mask, mask);
    }
}
