// Supervised fine-tuning: next-token cross-entropy on the tokens the loss mask trains, normalised by the trained
// tokens of the whole optimizer step, so gradient accumulation equals one big batch.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

public sealed class SftRecipe(Llama model, string chunkedLoss) : ITrainingRecipe
{
    public ShardKind DataKind => ShardKind.Sequences;
    public Batching Batching => Batching.Packed;

    public StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater)
    {
        long trained = microBatches.Sum(b => b.Sum(row => row.Sum(i => (long)train.TrainedTokens[i])));
        double sum = 0;
        long hits = 0, inputTokens = 0;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            var rows = Batches.Rows(train, batch);
            inputTokens += rows.Sum(r => (long)r.Ids.Length);
            double scale = 1.0 / Math.Max(1, trained);
            var result = SftLoss.Compute(model, rows, fused: Chunked(rows), gradient: (float)scale);
            result.Sum.Times(scale).backward();
            sum += result.Sum.item<float>();
            hits += result.Correct;
        }
        return new StepResult(sum / Math.Max(1, trained), (double)hits / Math.Max(1, trained), inputTokens);
    }

    public EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches)
    {
        double sum = 0;
        long tokens = 0, hits = 0;
        foreach (var batch in microBatches)
        {
            using var scope = NewDisposeScope();
            var rows = Batches.Rows(split, batch);
            var result = SftLoss.Compute(model, rows, fused: Chunked(rows));
            sum += result.Sum.item<float>();
            tokens += result.Tokens;
            hits += result.Correct;
        }
        return new EvalResult(sum, tokens, hits);
    }

    // The full logits of these rows would be rows × T × V float32: chunk the loss when that passes 512 MiB (auto).
    bool Chunked(IReadOnlyList<PackedRow> rows) => chunkedLoss switch
    {
        "true" => true,
        "false" => false,
        _ => 4L * rows.Count * rows.Max(r => r.Ids.Length) * model.Config.VocabSize > 512L << 20,
    };

    public void Dispose() { }
}
