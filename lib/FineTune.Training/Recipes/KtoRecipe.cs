// KTO over answers rated up or down (feedback shards): the loss of KtoBatch, normalised by the examples of the step.
// Accuracy is the share of answers on the right side of the KL estimate (desirable above, undesirable below); the
// rewards are the mean implicit rewards β·r of desirable and undesirable answers, whose gap should widen.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class KtoRecipe(Llama policy, Llama? reference, KtoConfig config) : ITrainingRecipe
{
    public ShardKind DataKind => ShardKind.Feedback;
    public Batching Batching => Batching.Shuffled;

    /// <summary>Full fine-tuning: the frozen copy of the base; with an adapter: null (adapters off).</summary>
    public Llama? Reference => reference;

    KtoBatchLoss Loss(TokenizedSplit split, int[][] batch) =>
        KtoBatch.Compute(policy, reference, Batches.Feedback(split, batch), config.Beta, config.DesirableWeight,
            config.UndesirableWeight);

    public StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater)
    {
        int count = microBatches.Sum(b => b.Length);
        var totals = new Totals();
        long inputTokens = 0;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            inputTokens += batch.Sum(row => (long)train.Lengths[row[0]]);
            var result = Loss(train, batch);
            result.Sum.Times(1.0 / count).backward();
            totals.Add(result);
        }
        return new StepResult(totals.Loss / count, (double)totals.Correct / count, inputTokens,
            totals.DesirableReward, totals.UndesirableReward);
    }

    public EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches)
    {
        var totals = new Totals();
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            totals.Add(Loss(split, batch));
        }
        double? margin = totals.DesirableReward - totals.UndesirableReward;
        return new EvalResult(totals.Loss, totals.Count, totals.Correct, margin * totals.Count);
    }

    sealed class Totals
    {
        double _desirable, _undesirable;
        int _desirableCount, _undesirableCount;
        public double Loss { get; private set; }
        public int Count { get; private set; }
        public int Correct { get; private set; }
        public double? DesirableReward => _desirableCount > 0 ? _desirable / _desirableCount : null;
        public double? UndesirableReward => _undesirableCount > 0 ? _undesirable / _undesirableCount : null;

        public void Add(KtoBatchLoss result)
        {
            Loss += result.Sum.item<float>();
            Count += result.Count;
            Correct += result.Correct;
            _desirable += result.DesirableRewardSum;
            _desirableCount += result.Desirable;
            _undesirable += result.UndesirableRewardSum;
            _undesirableCount += result.Undesirable;
        }
    }

    public void Dispose() => reference?.Dispose();
}
