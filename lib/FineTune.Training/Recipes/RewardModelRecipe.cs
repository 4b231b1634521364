// A reward model: the base with a scalar score head (Hugging Face's LlamaForSequenceClassification), trained on
// preference pairs with the Bradley–Terry loss −log σ(r_chosen − r_rejected − margin). Reports pair accuracy
// (the share of pairs scored the right way round) and the mean margin r_chosen − r_rejected.
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class RewardModelRecipe(Llama model, RewardModelConfig config) : PairRecipe
{
    protected override PairLoss Loss(IReadOnlyList<PreferencePair> pairs)
    {
        var result = RewardScores.PairLoss(model, pairs, config.Margin);
        return new PairLoss(result.Sum, result.Pairs, result.ChosenSum, result.RejectedSum, result.Correct);
    }
}
