// What the recipes over preference pairs share (DPO, the reward model): one pair per row, batches of similar lengths,
// the step's loss the mean over its pairs, accuracy the share of pairs ranked the right way round, and the rewards of
// the chosen and rejected answers (DPO's implicit ones, or the reward model's scores) with their margin.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public abstract class PairRecipe : ITrainingRecipe
{
    /// <summary>A micro-batch's summed loss (attached to the graph), its pairs, the summed rewards of the chosen and
    /// rejected answers, and the pairs whose chosen reward is higher.</summary>
    protected sealed record PairLoss(Tensor Sum, int Pairs, double ChosenSum, double RejectedSum, int Correct);

    protected abstract PairLoss Loss(IReadOnlyList<PreferencePair> pairs);

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
            var result = Loss(examples);
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
            var result = Loss(Batches.Pairs(split, batch));
            sum += result.Sum.item<float>();
            pairs += result.Pairs;
            hits += result.Correct;
            margin += result.ChosenSum - result.RejectedSum;
        }
        return new EvalResult(sum, pairs, hits, margin);
    }

    public virtual void Dispose() { }
}
