// Tokenization's consumer: DatasetCleaned → TokenizationStage → DatasetTokenized (once per run, even on redelivery).
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Tokenization;

public sealed class DatasetCleanedConsumer(TokenizationStage stage, RunLedger ledger, RunInputs inputs) : IConsumer<DatasetCleaned>
{
    public async Task Consume(ConsumeContext<DatasetCleaned> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        if (await ledger.CompletedAsync(m.RunId, Stages.Tokenization, ct) is { } done) { await context.PublishForRun(done.As<DatasetTokenized>(), m.RunId, ct); return; }
        if (!await ledger.StartAsync(m.RunId, Stages.Tokenization, null, ct)) return;

        var tokenized = await stage.RunAsync(m, ct);
        if (await ledger.CompleteAsync(m.RunId, Stages.Tokenization, nameof(DatasetCleanedConsumer), context.MessageId ?? m.RunId, tokenized, async s =>
            {
                await s.RecordArtifactAsync(m.RunId, "shards", tokenized.Shards, ct);
                await s.AddLineageAsync(m.RunId, m.Prepared, tokenized.Shards, "tokenized", ct);
                await s.AddLineageAsync(m.RunId, m.BaseModel, tokenized.Shards, "tokenizer", ct);
            }, Summary(tokenized), ct))
            await context.PublishForRun(tokenized, m.RunId, ct);
        inputs.FreeStageDirectory(m.RunId, Stages.Tokenization);
    }

    static string Summary(DatasetTokenized t)
    {
        var text = $"dataset tokenized: {t.TrainExamples} training examples, {t.TrainTokens} tokens";
        var shortened = (t.Splits ?? new Dictionary<string, SplitLengthCounts>())
            .Where(s => s.Value.Truncated + s.Value.Dropped > 0)
            .Select(s => $"{s.Key} {s.Value.Truncated} truncated, {s.Value.Dropped} dropped").ToList();
        return shortened.Count == 0 ? text : $"{text}; longer than max_length {t.MaxLength} ({t.Truncation}): {string.Join("; ", shortened)}";
    }
}
