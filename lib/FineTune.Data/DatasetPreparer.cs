// `finetune data prepare`: read -> validate -> clean -> exact and near de-duplication -> leakage-safe splits ->
// (balance, replay) -> data card. Streams the input; every input record ends up in exactly one output file
// (a split, rejects.jsonl or duplicates.jsonl) and is counted once in data_card.json.
using System.Text.Json;
using FineTune.Data.Cleaning;
using FineTune.Data.Ingestion;
using FineTune.Data.Tokenization;

namespace FineTune.Data;

public sealed record PrepareResult(DataCardCounts Counts, ValidationReport Report, DataCard Card,
    ValidationVerdict Verdict);

public static class DatasetPreparer
{
    public static readonly string[] SplitFiles = ["train.jsonl", "validation.jsonl", "test.jsonl"];

    /// <summary>
    /// Prepares <paramref name="input"/> into <paramref name="outDir"/>. A dataset that fails the verdict (too many
    /// rejects, too few examples) still gets its rejects, report and card written, and Verdict.Ok is false.
    /// </summary>
    public static async Task<PrepareResult> PrepareAsync(string input, string outDir, PrepareOptions options,
        Func<DataRecord, int>? countTokens = null, int? maxTokens = null, CancellationToken ct = default)
    {
        options.Validate();
        Directory.CreateDirectory(outDir);
        // Everything is written as .tmp and renamed at the end: a failed or interrupted prepare leaves no partial
        // rejects or duplicates behind, and a new run replaces an old one's files instead of appending to them.
        try
        {
            return await PrepareCoreAsync(input, outDir, options, countTokens, maxTokens, ct);
        }
        catch
        {
            foreach (var tmp in Directory.EnumerateFiles(outDir, "*.tmp"))
                File.Delete(tmp);
            throw;
        }
    }

    static async Task<PrepareResult> PrepareCoreAsync(string input, string outDir, PrepareOptions options,
        Func<DataRecord, int>? countTokens, int? maxTokens, CancellationToken ct)
    {
        // With PII redaction on, what rejects.jsonl and the report keep of a rejected record is redacted the same way.
        var redactor = new RejectRedactor(options.Cleaning.Pii, options.KeepRawRejects);
        var report = new ValidationReport(countTokens, maxTokens, redact: redactor.Apply);
        var counts = new DataCardCounts();
        var cleaner = new TextCleaner(options.Cleaning);
        var exact = new ExactDeduplicator();
        var near = options.NearDuplicates.Enabled
            ? new NearDuplicateIndex(options.NearDuplicates)
            : null;
        var splits = new SplitAssigner(options.Split);
        var keptPath = Path.Combine(outDir, ".kept.tmp");

        // Pass 1: everything but the split. Kept records wait in a temporary file, with their source line, because a
        // near-duplicate found later may still link two records into one split.
        string rejectsTmp = Path.Combine(outDir, "rejects.jsonl.tmp"),
            duplicatesTmp = Path.Combine(outDir, "duplicates.jsonl.tmp");
        File.Delete(rejectsTmp);
        await using (var rejects = new RejectsWriter(rejectsTmp))
        await using (var duplicates = new StreamWriter(duplicatesTmp))
        await using (var kept = new StreamWriter(keptPath))
        {
            await foreach (var item in DatasetReader.ReadAsync(input, new ReadOptions { Format = options.Format }, ct))
            {
                switch (report.Add(item))
                {
                    case Rejected rejected:
                        counts.Input++;
                        counts.CountRejected(rejected.Rejection.Code);
                        await rejects.WriteAsync(redactor.Apply(rejected.Rejection), ct);
                        break;
                    case Accepted accepted:
                        counts.Input++;
                        var cleaned = cleaner.Clean(accepted.Record);
                        if (cleaned.Rejection is { } rejection)
                        {
                            counts.CountRejected(rejection.Code);
                            await rejects.WriteAsync(redactor.Apply(rejection with { Raw = accepted.Raw }), ct);
                            break;
                        }
                        var record = cleaned.Record!;
                        if (options.ExactDuplicates && !exact.TryAdd(record, out long sameAs))
                        {
                            counts.ExactDuplicates++;
                            await duplicates.WriteLineAsync(DuplicateLine(record.Line, "exact", sameAs));
                            break;
                        }
                        splits.Add(record);
                        if (near is not null && !near.TryAdd(record, out long resembles))
                        {
                            if (options.NearDuplicates.Remove)
                            {
                                counts.NearDuplicates++;
                                await duplicates.WriteLineAsync(DuplicateLine(record.Line, "near", resembles));
                                break;
                            }
                            splits.Link(record.Line, resembles);
                        }
                        await kept.WriteLineAsync($"{record.Line}\t{NormalizedJsonl.Serialize(record)}");
                        break;
                }
            }
        }

        // Pass 2: splits, decided by prompt hash and near-duplicate group, before any augmentation.
        var labels = new LabelDistribution();
        var prompts = new PromptProfile();
        var train = options.Balance.Mode != BalanceMode.None || options.Replay.Fraction > 0
            ? new List<DataRecord>() : null;
        var tokenLengths = countTokens is null ? null : SplitFiles.Select(_ => new List<int>()).ToArray();
        var writers = SplitFiles.Select(f => new StreamWriter(Path.Combine(outDir, f + ".tmp"))).ToArray();
        try
        {
            foreach (var line in File.ReadLines(keptPath))
            {
                ct.ThrowIfCancellationRequested();
                int tab = line.IndexOf('\t');
                var record = NormalizedJsonl.Parse(line[(tab + 1)..], long.Parse(line[..tab]));
                var split = splits.Assign(record);
                counts.Count(split);
                tokenLengths?[(int)split].Add(countTokens!(record));
                if (split == DataSplit.Train)
                {
                    labels.Add(record);
                    prompts.Add(PromptProfile.PromptOf(record));
                    train?.Add(record);
                }
                await writers[(int)split].WriteLineAsync(line[(tab + 1)..]);
            }
        }
        finally
        {
            foreach (var w in writers)
                await w.DisposeAsync();
        }
        File.Delete(keptPath);
        foreach (var f in SplitFiles)
            File.Move(Path.Combine(outDir, f + ".tmp"), Path.Combine(outDir, f), overwrite: true);
        File.Move(rejectsTmp, Path.Combine(outDir, "rejects.jsonl"), overwrite: true);
        File.Move(duplicatesTmp, Path.Combine(outDir, "duplicates.jsonl"), overwrite: true);

        IReadOnlyDictionary<string, double>? lossWeights = null;
        if (train is not null)
            lossWeights = await AugmentTrainAsync(train, outDir, options, counts, ct);

        long usable = counts.Train + counts.Validation + counts.Test;
        var verdict = Verdict(counts, usable, options);
        var outputs = new List<SourceFile>();
        foreach (var f in SplitFiles)
            outputs.Add(await SourceFile.FromFileAsync(Path.Combine(outDir, f), ct));
        var source = await SourceFile.FromFileAsync(input, ct);
        var card = new DataCard
        {
            Name = redactor.Text(Path.GetFileName(Path.GetFullPath(input))),
            RejectsRaw = redactor.Redacts && !options.KeepRawRejects ? "redacted" : "as_read",
            Sources = [source with { Name = redactor.Text(source.Name) }],
            Outputs = outputs,
            Counts = counts,
            Cleaning = cleaner.Stats,
            Labels = labels.Total > 0 && labels.Total > labels.Unlabeled ? labels : null,
            LossWeights = lossWeights,
            Prompts = prompts.Prompts > 0 ? prompts : null,
            Tokens = tokenLengths?.Select((lengths, i) => (Split: SplitFiles[i][..^".jsonl".Length], lengths))
                .Where(x => x.lengths.Count > 0).ToDictionary(x => x.Split, x => TokenStatistics.From(x.lengths)),
        };
        await card.WriteAsync(outDir, ct);
        await File.WriteAllTextAsync(Path.Combine(outDir, "validation_report.json"), report.ToJson(), ct);
        return new PrepareResult(counts, report, card, verdict);
    }

    static string DuplicateLine(long line, string kind, long duplicateOf) =>
        JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["line"] = line, ["kind"] = kind,
            ["duplicate_of"] = duplicateOf
        });

    static ValidationVerdict Verdict(DataCardCounts counts, long usable, PrepareOptions options)
    {
        double ratio = counts.Input == 0 ? 1 : (double)counts.Rejected / counts.Input;
        if (ratio > options.MaxRejectRatio)
            return new(false,
                $"{counts.Rejected} of {counts.Input} records rejected ({ratio:P1}), over the limit of " +
                $"{options.MaxRejectRatio:P1}; see rejects.jsonl.");
        if (usable < options.MinExamples)
            return new(false, $"only {usable} usable examples; at least {options.MinExamples} are needed.");
        return new(true,
            $"{usable} usable examples ({counts.Train} train, {counts.Validation} validation, {counts.Test} test).");
    }

    // Balancing and replay touch train only, after the split, so nothing they add can leak into validation or test.
    static async Task<IReadOnlyDictionary<string, double>?> AugmentTrainAsync(List<DataRecord> train, string outDir,
        PrepareOptions options, DataCardCounts counts, CancellationToken ct)
    {
        IReadOnlyList<DataRecord> records = train;
        IReadOnlyDictionary<string, double>? weights = null;
        if (options.Balance.Mode != BalanceMode.None)
        {
            var balanced = new Balancer(options.Balance).Balance(records);
            records = balanced.Records;
            counts.OversampledAdded = balanced.Added;
            if (options.Balance.Mode == BalanceMode.LossWeights)
                weights = balanced.Weights;
        }
        if (options.Replay is { Fraction: > 0, File: { } replayFile })
        {
            var general = new List<DataRecord>();
            await foreach (var item in DatasetReader.ReadAsync(replayFile, new ReadOptions(), ct))
                if (item is Accepted a)
                    general.Add(a.Record);
            var mixed = new ReplayMixer(options.Replay with { Seed = options.Split.Seed }).Mix(records, general);
            records = mixed.Records;
            counts.ReplayAdded = mixed.Replayed;
        }
        NormalizedJsonl.Write(Path.Combine(outDir, "train.jsonl"), records);
        return weights;
    }
}
