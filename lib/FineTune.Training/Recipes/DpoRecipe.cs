// Direct preference optimisation (sigmoid loss, β = dpo.beta) over preference pairs. The reference is the policy with
// its adapters switched off, or, for full fine-tuning, a frozen copy of the base that this recipe owns.
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class DpoRecipe(Llama policy, Llama? reference, double beta) : PairRecipe
{
    /// <summary>Full fine-tuning: the frozen copy of the base; with an adapter: null (adapters off).</summary>
    public Llama? Reference => reference;

    public static DpoRecipe Create(TrainingConfig config, Llama policy) =>
        new(policy, TrainingRecipes.FrozenReference(config, policy), config.Dpo.Beta);

    protected override PairLoss Loss(IReadOnlyList<PreferencePair> pairs)
    {
        var result = DpoLoss.Compute(policy, reference, pairs, beta);
        return new PairLoss(result.Sum, result.Pairs, result.RewardChosenSum, result.RewardRejectedSum,
            result.Correct);
    }

    public override void Dispose() => reference?.Dispose();
}
