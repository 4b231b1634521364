// A reward model: the base with a scalar score head (Hugging Face's LlamaForSequenceClassification), trained on
// preference pairs with the Bradley–Terry loss −log σ(r_chosen − r_rejected − margin). Reports pair accuracy (the
// share of pairs scored the right way round) and the mean margin r_chosen − r_rejected.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class RewardModelRecipe(Llama model, RewardModelConfig config) : ITrainingRecipe
{
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
            var result = RewardScores.PairLoss(model, examples, config.Margin);
            result.Sum.Times(1.0 / pairs).backward();
            lossSum += result.Sum.item<float>();
            chosen += result.ChosenSum;
            rejected += result.RejectedSum;
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
            var result = RewardScores.PairLoss(model, Batches.Pairs(split, batch), config.Margin);
            sum += result.Sum.item<float>();
            pairs += result.Pairs;
            hits += result.Correct;
            margin += result.ChosenSum - result.RejectedSum;
        }
        return new EvalResult(sum, pairs, hits, margin);
    }

    public void Dispose() { }
}
