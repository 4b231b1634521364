// Tokenization's consumer: DatasetCleaned → TokenizationStage → DatasetTokenized (once per run, even on redelivery).
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Tokenization;

public sealed class DatasetCleanedConsumer(TokenizationStage stage, StageSteps steps) : IConsumer<DatasetCleaned>
{
    public Task Consume(ConsumeContext<DatasetCleaned> context)
    {
        var m = context.Message;
        return steps.RunAsync(context, m.RunId, Stages.Tokenization, null, nameof(DatasetCleanedConsumer), async ct =>
        {
            var tokenized = await stage.RunAsync(m, ct);
            return new StageResult(tokenized, async s =>
            {
                await s.RecordArtifactAsync(m.RunId, "shards", tokenized.Shards, ct);
                await s.AddLineageAsync(m.RunId, m.Prepared, tokenized.Shards, "tokenized", ct);
                await s.AddLineageAsync(m.RunId, m.BaseModel, tokenized.Shards, "tokenizer", ct);
            }, Summary(tokenized));
        });
    }

    static string Summary(DatasetTokenized t)
    {
        var text = $"dataset tokenized: {t.TrainExamples} training examples, {t.TrainTokens} tokens";
        var shortened = (t.Splits ?? new Dictionary<string, SplitLengthCounts>())
            .Where(s => s.Value.Truncated + s.Value.Dropped > 0)
            .Select(s => $"{s.Key} {s.Value.Truncated} truncated, {s.Value.Dropped} dropped").ToList();
        return shortened.Count == 0 ? text
            : $"{text}; longer than max_length {t.MaxLength} ({t.Truncation}): {string.Join("; ", shortened)}";
    }
}
