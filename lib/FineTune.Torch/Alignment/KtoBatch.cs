// KTO over a micro-batch of rated answers: each example's log-ratio r = log π(y|x) − log π_ref(y|x) over its answer
// tokens; z0 from the same batch with every prompt given the next example's answer (mismatched pairs, as TRL's
// KTOTrainer does), computed without gradients; then KtoLoss. The reference is the policy with its adapters off, or a
// frozen copy. Reports the implicit rewards β·r of desirable and undesirable answers and how many sit on the right
// side of z0.
namespace FineTune.Torch;

/// <summary>One rated answer: prompt and answer tokens, the mask marking the answer, and the rating.</summary>
public sealed record FeedbackExample(int[] Ids, byte[] Mask, bool Desirable)
{
    /// <summary>Where the answer starts: the first trained token.</summary>
    public int PromptLength => Array.IndexOf(Mask, (byte)1) is var i and >= 0 ? i : Ids.Length;
}

/// <summary>The batch's summed loss (attached to the graph) and sums of the implicit rewards per rating.</summary>
public sealed record KtoBatchLoss(Tensor Sum, int Count, double Kl, double DesirableRewardSum, int Desirable,
    double UndesirableRewardSum, int Undesirable, int Correct);

public static class KtoBatch
{
    public static KtoBatchLoss Compute(Llama policy, Llama? reference, IReadOnlyList<FeedbackExample> examples,
        double beta, double desirableWeight, double undesirableWeight)
    {
        if (examples.Count == 0)
            throw new ArgumentException("no examples", nameof(examples));
        // each prompt with the next example's answer; a lone example (an epoch's last micro-batch) pairs with itself
        var rows = examples.Select(e => (e.Ids, e.Mask)).ToList();
        var mismatched = examples.Select((e, i) =>
        {
            var other = examples[(i + 1) % examples.Count];
            int p = e.PromptLength, q = other.PromptLength;
            return (Ids: e.Ids[..p].Concat(other.Ids[q..]).ToArray(),
                Mask: new byte[p].Concat(other.Mask[q..]).ToArray());
        }).ToList();
        Tensor referenceLogProbs, referenceMismatched, kl;
        using (no_grad())
        {
            if (reference is not null)
            {
                referenceLogProbs = DpoLoss.SequenceLogProbs(reference, rows);
                referenceMismatched = DpoLoss.SequenceLogProbs(reference, mismatched);
            }
            else
                using (policy.AdaptersDisabled())
                {
                    referenceLogProbs = DpoLoss.SequenceLogProbs(policy, rows);
                    referenceMismatched = DpoLoss.SequenceLogProbs(policy, mismatched);
                }
            kl = KtoLoss.KlEstimate(DpoLoss.SequenceLogProbs(policy, mismatched).Minus(referenceMismatched));
        }
        var logRatios = DpoLoss.SequenceLogProbs(policy, rows).Minus(referenceLogProbs);          // (N,)
        var desirable = tensor(examples.Select(e => e.Desirable).ToArray());
        var sum = KtoLoss.PerExample(logRatios, desirable, kl, beta, desirableWeight, undesirableWeight).sum();

        using var _ = no_grad();
        var rewards = logRatios.Times(beta).ToFloat32Array();
        double z0 = kl.item<float>();
        var ratios = logRatios.ToFloat32Array();
        double desirableSum = 0, undesirableSum = 0;
        int desirableCount = 0, correct = 0;
        for (int i = 0; i < examples.Count; i++)
        {
            if (examples[i].Desirable)
            {
                desirableSum += rewards[i];
                desirableCount++;
            }
            else
                undesirableSum += rewards[i];
            if (examples[i].Desirable == ratios[i] > z0)
                correct++;
        }
        return new KtoBatchLoss(sum, examples.Count, z0, desirableSum, desirableCount, undesirableSum,
            examples.Count - desirableCount, correct);
    }
}
