// A reward model's scores for whole sequences and its Bradley–Terry loss over preference pairs. Rows are right-padded
// under a causal mask, so no real token sees padding, and each row's score is read at its last real token (the
// rightmost token that is not pad_token_id, as Hugging Face's …ForSequenceClassification reads it).
namespace FineTune.Torch;

/// <summary>The batch's summed loss (attached to the graph), its pair count, the sums of the two scores, and the pairs
/// ranked right.</summary>
public sealed record RewardBatchLoss(Tensor Sum, int Pairs, double ChosenSum, double RejectedSum, int Correct);

public static class RewardScores
{
    /// <summary>(N,) float32: one score per sequence of token ids.</summary>
    public static Tensor Compute(Llama model, IReadOnlyList<int[]> sequences)
    {
        if (sequences.Count == 0 || sequences.Any(s => s.Length == 0))
            throw new ArgumentException("every sequence needs at least one token", nameof(sequences));
        int B = sequences.Count, T = sequences.Max(s => s.Length);
        var ids = new long[B * T];
        var positions = new long[B * T];
        var last = new long[B];
        for (int b = 0; b < B; b++)
        {
            for (int t = 0; t < sequences[b].Length; t++)
            {
                ids[b * T + t] = sequences[b][t];
                positions[b * T + t] = t;
            }
            last[b] = sequences[b].Length - 1;
        }
        var scores = model.Scores(tensor(ids, [B, T]), tensor(positions, [B, T]), Llama.CausalMask(T),
            tensor(last, [B]));
        return scores.select(1, 0);
    }

    /// <summary>−log σ(r_chosen − r_rejected − margin) summed over the pairs, with the numbers a run
    /// reports.</summary>
    public static RewardBatchLoss PairLoss(Llama model, IReadOnlyList<PreferencePair> pairs, double margin)
    {
        var scores = Compute(model, [.. pairs.Select(p => p.ChosenIds), .. pairs.Select(p => p.RejectedIds)]);
        int n = pairs.Count;
        var chosen = scores.narrow(0, 0, n);
        var rejected = scores.narrow(0, n, n);
        var sum = RewardLoss.BradleyTerry(chosen, rejected, margin).sum();
        using var _ = no_grad();
        return new RewardBatchLoss(sum, n, chosen.sum().item<float>(), rejected.sum().item<float>(),
            (int)chosen.gt(rejected).sum().item<long>());
    }
}
