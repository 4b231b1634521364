// Direct preference optimisation (sigmoid loss, β = dpo.beta) over preference pairs. The reference is the policy with
// its adapters switched off, or, for full fine-tuning, a frozen copy of the base that this recipe owns.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class DpoRecipe : ITrainingRecipe
{
    readonly Llama _policy;
    readonly double _beta;

    DpoRecipe(Llama policy, Llama? reference, double beta)
    {
        _policy = policy;
        Reference = reference;
        _beta = beta;
    }

    /// <summary>Full fine-tuning: the frozen copy of the base; with an adapter: null (adapters off).</summary>
    public Llama? Reference { get; }

    public static DpoRecipe Create(TrainingConfig config, Llama policy) =>
        new(policy, TrainingRecipes.FrozenReference(config, policy), config.Dpo.Beta);

    public ShardKind DataKind => ShardKind.Pairs;
    public Batching Batching => Batching.LengthBucketed;

    public StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater)
    {
        int pairs = microBatches.Sum(b => b.Length);
        double lossSum = 0, chosen = 0, rejected = 0;
        long inputTokens = 0;
        int correct = 0;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            var examples = Batches.Pairs(train, batch);
            inputTokens += examples.Sum(p => (long)p.ChosenIds.Length + p.RejectedIds.Length);
            var result = DpoLoss.Compute(_policy, Reference, examples, _beta);
            result.Sum.Times(1.0 / pairs).backward();
            lossSum += result.Sum.item<float>();
            chosen += result.RewardChosenSum;
            rejected += result.RewardRejectedSum;
            correct += result.Correct;
        }
        return new StepResult(lossSum / pairs, (double)correct / pairs, inputTokens, chosen / pairs, rejected / pairs);
    }

    public EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches)
    {
        double sum = 0, margin = 0;
        long pairs = 0, hits = 0;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            var result = DpoLoss.Compute(_policy, Reference, Batches.Pairs(split, batch), _beta);
            sum += result.Sum.item<float>();
            pairs += result.Pairs;
            hits += result.Correct;
            margin += result.RewardChosenSum - result.RewardRejectedSum;
        }
        return new EvalResult(sum, pairs, hits, margin);
    }

    public void Dispose() => Reference?.Dispose();
}
