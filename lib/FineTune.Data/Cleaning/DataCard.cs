// The dataset's data card: where it came from (source hashes), what happened to every record (counts that add
// up), cleaning stats, split sizes, token and label statistics, and an id = SHA-256 of the cleaned output files.
// Written as data_card.json (for machines) and data_card.md (for people) by WriteAsync(dir).
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FineTune.Data.Cleaning;

public sealed record SourceFile(string Name, string Sha256, long Bytes)
{
    public static async Task<SourceFile> FromFileAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = File.OpenRead(path);
        var hash = await SHA256.HashDataAsync(stream, cancellationToken);
        return new SourceFile(Path.GetFileName(path), Convert.ToHexStringLower(hash), stream.Length);
    }
}

/// <summary>
/// Every input record is counted exactly once: Input = Rejected + ExactDuplicates + NearDuplicates + Train +
/// Validation + Test. Oversampled copies and replayed records are extra train records, counted apart.
/// </summary>
public sealed class DataCardCounts
{
    public long Input { get; set; }
    public long Rejected { get; set; }
    public long ExactDuplicates { get; set; }
    public long NearDuplicates { get; set; }
    public long Train { get; set; }
    public long Validation { get; set; }
    public long Test { get; set; }
    public long OversampledAdded { get; set; }
    public long ReplayAdded { get; set; }
    public SortedDictionary<string, long> RejectedByCode { get; } = new(StringComparer.Ordinal);

    public long Accounted => Rejected + ExactDuplicates + NearDuplicates + Train + Validation + Test;
    public bool AddsUp => Accounted == Input && (RejectedByCode.Count == 0 || RejectedByCode.Values.Sum() == Rejected);

    public void Count(DataSplit split)
    {
        if (split == DataSplit.Train)
            Train++;
        else if (split == DataSplit.Validation)
            Validation++;
        else
            Test++;
    }

    public void CountRejected(string code)
    {
        Rejected++;
        RejectedByCode[code] = RejectedByCode.GetValueOrDefault(code) + 1;
    }

    internal void EnsureAddsUp()
    {
        if (!AddsUp)
            throw new InvalidOperationException(
                $"data card counts do not add up: input {Input} ≠ rejected {Rejected} + exact_duplicates " +
                    $"{ExactDuplicates} + " +
                $"near_duplicates {NearDuplicates} + train {Train} + validation {Validation} + test {Test} = " +
                    $"{Accounted}" +
                $" (rejections by code sum to {RejectedByCode.Values.Sum()}).");
    }
}

/// <summary>Token lengths of one split's records.</summary>
public sealed record TokenStatistics(long Records, long Total, int Min, int Max, double Mean, int P50, int P95)
{
    public static TokenStatistics From(IEnumerable<int> lengths)
    {
        var sorted = lengths.Order().ToArray();
        if (sorted.Length == 0)
            return new TokenStatistics(0, 0, 0, 0, 0, 0, 0);
        long total = 0;
        foreach (var n in sorted)
            total += n;
        int Percentile(double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return new TokenStatistics(sorted.Length, total, sorted[0], sorted[^1], (double)total / sorted.Length,
            Percentile(0.5), Percentile(0.95));
    }
}

public sealed class DataCard
{
    public required string Name { get; init; }
    public required IReadOnlyList<SourceFile> Sources { get; init; }
    /// <summary>The cleaned files (train/validation/test.jsonl); DatasetId is derived from them.</summary>
    public required IReadOnlyList<SourceFile> Outputs { get; init; }
    public required DataCardCounts Counts { get; init; }
    public CleaningStats? Cleaning { get; init; }
    public LabelDistribution? Labels { get; init; }
    public IReadOnlyDictionary<string, double>? LossWeights { get; init; }
    /// <summary>Per split name (train, validation, test), when tokenization has run.</summary>
    public IReadOnlyDictionary<string, TokenStatistics>? Tokens { get; init; }
    /// <summary>The train split's prompts (lengths, words, scripts): the reference live traffic's drift is measured
    /// against.</summary>
    public PromptProfile? Prompts { get; init; }
    /// <summary>What rejects.jsonl keeps of a rejected record's text: "redacted" (PII redaction on: placeholders, or
    /// only length and hash), "as_read" (redaction off, or prepare.keep_raw_rejects).</summary>
    public string RejectsRaw { get; init; } = "as_read";

    /// <summary>
    /// SHA-256 of the lines "sha256  name\n" of the outputs sorted by name (ordinal), i.e. of a sorted sha256sum
    /// listing: the same cleaned files give the same id whatever produced them.
    /// </summary>
    public string DatasetId => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Concat(
        Outputs.OrderBy(o => o.Name, StringComparer.Ordinal).Select(o => $"{o.Sha256}  {o.Name}\n")))));

    public long TrainRecords => Counts.Train + Counts.OversampledAdded + Counts.ReplayAdded;

    public string ToJson()
    {
        Counts.EnsureAddsUp();
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, RecordText.Compact with { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("name", Name);
            w.WriteString("dataset_id", DatasetId);
            WriteFiles(w, "sources", Sources);
            WriteFiles(w, "outputs", Outputs);
            w.WriteStartObject("counts");
            foreach (var (key, value) in CountRows())
                w.WriteNumber(key, value);
            w.WriteStartObject("rejected_by_code");
            foreach (var (code, n) in Counts.RejectedByCode)
                w.WriteNumber(code, n);
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartObject("splits");
            foreach (var (split, n) in SplitRows())
                w.WriteNumber(split, n);
            w.WriteEndObject();
            w.WriteString("rejects_raw", RejectsRaw);
            if (Cleaning is not null)
            {
                w.WritePropertyName("cleaning");
                Cleaning.WriteTo(w);
            }
            if (Prompts is not null)
            {
                w.WritePropertyName("prompt_profile");
                Prompts.WriteTo(w);
            }
            if (Labels is not null)
            {
                w.WritePropertyName("labels");
                Labels.WriteTo(w);
            }
            if (LossWeights is not null)
            {
                w.WriteStartObject("loss_weights");
                foreach (var (label, weight) in LossWeights.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                    w.WriteNumber(label, weight);
                w.WriteEndObject();
            }
            if (Tokens is not null)
            {
                w.WriteStartObject("tokens");
                foreach (var (split, t) in Tokens.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WriteStartObject(split);
                    w.WriteNumber("records", t.Records);
                    w.WriteNumber("total", t.Total);
                    w.WriteNumber("min", t.Min);
                    w.WriteNumber("max", t.Max);
                    w.WriteNumber("mean",
                        Math.Round(t.Mean, 3));
                    w.WriteNumber("p50", t.P50);
                    w.WriteNumber("p95", t.P95);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    public string ToMarkdown()
    {
        Counts.EnsureAddsUp();
        var md = new StringBuilder();
        md.AppendLine($"# Data card: {Name}").AppendLine();
        md.AppendLine($"Dataset id: `{DatasetId}`").AppendLine();
        md.AppendLine("## Files").AppendLine().AppendLine("| role | file | bytes | sha256 |")
            .AppendLine("|---|---|---:|---|");
        foreach (var f in Sources)
            md.AppendLine($"| source | {f.Name} | {f.Bytes} | `{f.Sha256}` |");
        foreach (var f in Outputs)
            md.AppendLine($"| output | {f.Name} | {f.Bytes} | `{f.Sha256}` |");
        md.AppendLine().AppendLine("## Records").AppendLine()
            .AppendLine("Every input record is counted once: input = rejected + duplicates + train + validation + " +
            "test.")
            .AppendLine().AppendLine("| step | records |").AppendLine("|---|---:|");
        foreach (var (key, value) in CountRows())
            md.AppendLine($"| {key} | {value} |");
        foreach (var (code, n) in Counts.RejectedByCode)
            md.AppendLine($"| rejected: {code} | {n} |");
        md.AppendLine().AppendLine("## Splits").AppendLine().AppendLine("| split | records |").AppendLine("|---|---:|");
        foreach (var (split, n) in SplitRows())
            md.AppendLine($"| {split} | {n} |");
        md.AppendLine().AppendLine(RejectsRaw == "redacted"
            ? "Rejected records in rejects.jsonl are redacted like the splits (or kept only as length and hash)."
            : "Rejected records in rejects.jsonl keep their text as read (PII redaction off, or " +
                "prepare.keep_raw_rejects).");
        if (Cleaning is not null)
        {
            md.AppendLine().AppendLine("## Cleaning").AppendLine()
                .AppendLine("| step | records changed | fields changed |").AppendLine("|---|---:|---:|");
            foreach (var step in Enum.GetValues<CleaningStep>())
                md.AppendLine($"| {CleaningStats.SnakeCase(step.ToString())} | {Cleaning.Step(step).Records} | " +
                    $"{Cleaning.Step(step).Fields} |");
            md.AppendLine().AppendLine("| PII redacted | count |").AppendLine("|---|---:|");
            foreach (var type in Enum.GetValues<PiiType>())
                md.AppendLine($"| {CleaningStats.SnakeCase(type.ToString())} | {Cleaning.Redacted(type)} |");
        }
        if (Labels is not null)
        {
            md.AppendLine().AppendLine("## Labels").AppendLine().AppendLine("| label | records | loss weight |")
                .AppendLine("|---|---:|---:|");
            foreach (var (label, n) in Labels.Counts)
                md.AppendLine($"| {label} | {n} | " +
                    $"{(LossWeights?.TryGetValue(label, out var w) == true ? w.ToString("0.###") : "")} |");
            md.AppendLine($"| (unlabeled) | {Labels.Unlabeled} | |");
        }
        if (Tokens is not null)
        {
            md.AppendLine().AppendLine("## Tokens").AppendLine()
                .AppendLine("| split | records | total | min | mean | p50 | p95 | max |")
                .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
            foreach (var (split, t) in Tokens.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                md.AppendLine($"| {split} | {t.Records} | {t.Total} | {t.Min} | {t.Mean:0.#} | {t.P50} | {t.P95} | " +
                    $"{t.Max} |");
        }
        return md.ToString();
    }

    public async Task WriteAsync(string directory, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "data_card.json"), ToJson() + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "data_card.md"), ToMarkdown(), cancellationToken);
    }

    IEnumerable<(string, long)> CountRows() =>
    [
        ("input", Counts.Input), ("rejected", Counts.Rejected), ("exact_duplicates", Counts.ExactDuplicates),
        ("near_duplicates", Counts.NearDuplicates), ("train", Counts.Train), ("validation", Counts.Validation),
        ("test", Counts.Test), ("oversampled_added", Counts.OversampledAdded), ("replay_added", Counts.ReplayAdded),
    ];

    IEnumerable<(string, long)> SplitRows() =>
        [("train", TrainRecords), ("validation", Counts.Validation), ("test", Counts.Test)];

    static void WriteFiles(Utf8JsonWriter w, string name, IReadOnlyList<SourceFile> files)
    {
        w.WriteStartArray(name);
        foreach (var f in files)
        {
            w.WriteStartObject();
            w.WriteString("name", f.Name);
            w.WriteString("sha256", f.Sha256);
            w.WriteNumber("bytes", f.Bytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
