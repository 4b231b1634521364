// A trained reward model as a GRPO reward: it reads the prompt and completion tokens as they are (so it must share
// the policy's tokenizer and chat template, as a reward model trained from the same base does).
namespace FineTune.Training.Rewards;

public sealed class RewardModelReward(RewardScorer scorer) : IRewardFunction, IDisposable
{
    public string Name => "reward_model";

    public double[] Score(IReadOnlyList<RewardContext> completions) =>
        scorer.ScoreIds([.. completions.Select(c => (int[])[.. c.PromptIds, .. c.CompletionIds])])
            .Select(r => (double)r).ToArray();

    public void Dispose() => scorer.Dispose();
}
