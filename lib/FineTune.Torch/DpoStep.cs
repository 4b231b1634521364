// Direct Preference Optimization (Rafailov et al. 2023), sigmoid loss:
//   loss = -log σ(β · [(log π(chosen) - log π_ref(chosen)) - (log π(rejected) - log π_ref(rejected))])
// over the completion tokens (the masks). For an adapted model the reference is the same model with its adapters
// switched off, so no second copy of the weights is needed; a fully fine-tuned model takes a frozen copy as reference.
// Reports rewards/chosen, rewards/rejected, accuracy and margin.
namespace FineTune.Torch;

/// <summary>One preference pair: both sequences share the prompt; masks mark the completion tokens.</summary>
public sealed record PreferencePair(int[] ChosenIds, byte[] ChosenMask, int[] RejectedIds, byte[] RejectedMask);

public sealed record DpoMetrics(double Loss, double RewardChosen, double RewardRejected, double RewardAccuracy)
{
    public double Margin => RewardChosen - RewardRejected;
}

/// <summary>The batch's summed loss (attached to the graph) and sums of its rewards and hits over the pairs.</summary>
public sealed record DpoBatchLoss(Tensor Sum, int Pairs, double RewardChosenSum, double RewardRejectedSum, int Correct);

public static class DpoLoss
{
    /// <param name="reference">the frozen reference model, or null for the policy with its adapters switched
    /// off</param>
    public static DpoBatchLoss Compute(Llama policy, Llama? reference, IReadOnlyList<PreferencePair> pairs, double beta)
    {
        var rows = pairs.Select(p => (p.ChosenIds,
            p.ChosenMask)).Concat(pairs.Select(p => (p.RejectedIds, p.RejectedMask))).ToList();
        Tensor referenceLogProbs;
        using (no_grad())
        {
            if (reference is not null)
                referenceLogProbs = SequenceLogProbs(reference, rows);
            else
                using (policy.AdaptersDisabled())
                    referenceLogProbs = SequenceLogProbs(policy, rows);
        }
        var policyLogProbs = SequenceLogProbs(policy, rows);                                           // (2N,)
        int n = pairs.Count;
        // (N,)
        var chosenReward = policyLogProbs.narrow(0, 0, n).Minus(referenceLogProbs.narrow(0, 0, n)).Times(beta);
        var rejectedReward = policyLogProbs.narrow(0, n, n).Minus(referenceLogProbs.narrow(0, n, n)).Times(beta);
        var sum = -nn.functional.logsigmoid(chosenReward.Minus(rejectedReward)).sum();
        using var _ = no_grad();
        return new DpoBatchLoss(sum, n, chosenReward.sum().item<float>(), rejectedReward.sum().item<float>(),
            (int)(chosenReward > rejectedReward).sum().item<long>());
    }

    /// <summary>Sum of log p(token) over each row's masked tokens (rows,): a completion's log-probability given its
    /// prompt. Rows are right-padded under a causal mask.</summary>
    public static Tensor SequenceLogProbs(Llama model, IReadOnlyList<(int[] Ids, byte[] Mask)> rows) =>
        TokenLogProbs.Compute(model, rows).LogProbs.sum(1);
}

public sealed class DpoStep : IDisposable
{
    readonly Llama _model;
    readonly double _beta;
    readonly AdamWOptimizer _optimizer;
    readonly double _learningRate;

    public DpoStep(Llama model, double learningRate, double beta = 0.1)
    {
        if (model.Adapter is null)
            throw new ArgumentException("DPO here uses the adapters-off model as its reference: give it an adapted " +
                "model.", nameof(model));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(beta);
        _model = model;
        _beta = beta;
        // TorchSharp's AdamW defaults (decay 0.01), computed by ours: its implicit Scalars can be freed mid-call (see
        // ScalarOps).
        _optimizer = new AdamWOptimizer(model.named_parameters().Where(p => p.parameter.requires_grad).Select(p =>
            (p.name, p.parameter)), 0.01, 0.9, 0.999, 1e-8);
        _learningRate = learningRate;
    }

    /// <summary>One update; metrics are those of the batch before it.</summary>
    public DpoMetrics Run(IReadOnlyList<PreferencePair> pairs)
    {
        using var scope = NewDisposeScope();
        _model.train();
        var batch = DpoLoss.Compute(_model, null, pairs, _beta);
        var loss = batch.Sum.Times(1.0 / batch.Pairs);
        _optimizer.ZeroGrad();
        loss.backward();
        _optimizer.Update(_learningRate);
        _model.eval();
        return new DpoMetrics(loss.item<float>(), batch.RewardChosenSum / batch.Pairs,
            batch.RewardRejectedSum / batch.Pairs,
            (double)batch.Correct / batch.Pairs);
    }

    public void Dispose() => _optimizer.Dispose();
}
