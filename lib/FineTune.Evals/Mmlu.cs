// MMLU as lm-evaluation-harness's default `mmlu` task: each question scored by log P(" A".." D" | prompt), the best
// choice taken (acc); accuracy per subject, per category, overall (micro, as the harness's group "acc") and macro over
// subjects, with Wilson 95% intervals. Reads the original release CSVs (<subject>_<split>.csv, no header).
using System.Text;
using FineTune.Models.Generation;
using FineTune.Text;

namespace FineTune.Evals;

public sealed record MmluOptions
{
    public string Split { get; init; } = "test";          // dev, val or test; shots always come from dev
    public int Shots { get; init; } = 5;                   // 0–5: the first K dev rows of the subject, in file order
    public int BatchSize { get; init; } = 16;              // prompts per forward batch
    public int? LimitPerSubject { get; init; }             // the first N questions of each subject (harness --limit)
    public IReadOnlyList<string>? Subjects { get; init; }  // null = all 57
    /// <summary>A fixed sample of this many questions instead of every question: a quarter from each of the four
    /// categories (STEM, humanities, social sciences, other), drawn with <see cref="Seed"/>, so a gate that runs MMLU
    /// on every candidate pays for N questions and always scores the same ones.</summary>
    public int? Sample { get; init; }
    public int Seed { get; init; }
    // The harness's HF backend encodes without special tokens unless add_bos_token=True; set true to prepend BOS.
    public bool AddBos { get; init; }
}

/// <summary>One scored question: the four log-likelihoods and the predicted choice (first argmax, as numpy); Truncated
/// when its prompt lost tokens from the left to fit the model's context.</summary>
public sealed record MmluItemResult(string Subject, int Index, int Answer, int Predicted,
    IReadOnlyList<double> LogProbs,
    bool Truncated = false);

public sealed record MmluDetails(string Split, int Shots, IReadOnlyList<MmluItemResult> Items);

public static class Mmlu
{
    public const string FormatVersion = "mmlu-harness-v1";

    /// <summary>Reads <c>{mmluDir}/{split}/*_{split}.csv</c> into subject → questions in file order.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<MmluItem>> Load(string mmluDir, string split)
    {
        var dir = Path.Combine(mmluDir, split);
        if (!Directory.Exists(dir))
            throw new DirectoryNotFoundException($"{dir}: no MMLU {split} folder.");
        var suffix = $"_{split}.csv";
        var subjects = new SortedDictionary<string, IReadOnlyList<MmluItem>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(dir, "*" + suffix))
        {
            var subject = Path.GetFileName(file)[..^suffix.Length];
            var items = new List<MmluItem>();
            foreach (var (record, line) in Csv.Parse(File.ReadAllText(file, Encoding.UTF8)))
            {
                if (record.Count != 6)
                    throw new FormatException($"{file}:{line}: expected 6 fields, found {record.Count}.");
                int answer = MmluPrompts.Letters.IndexOf(record[5].Trim(), StringComparison.Ordinal);
                if (answer < 0 || record[5].Trim().Length != 1)
                    throw new FormatException($"{file}:{line}: answer '{record[5]}' is not A–D.");
                items.Add(new MmluItem(subject, record[0], record.Skip(1).Take(4).ToArray(), answer));
            }
            subjects[subject] = items;
        }
        return subjects;
    }

    /// <summary>Loads dev and the chosen split from <paramref name="mmluDir"/> and evaluates.</summary>
    public static SuiteResult Evaluate(ICausalLm model, TextTokenizer tokenizer, string mmluDir, MmluOptions options,
        CancellationToken cancellationToken = default, IProgress<EvalProgress>? progress = null,
            SuiteItems? items = null) =>
        Evaluate(model, tokenizer, Load(mmluDir, "dev"), Load(mmluDir, options.Split), options, cancellationToken,
            progress, items);

    public static SuiteResult Evaluate(ICausalLm model, TextTokenizer tokenizer,
        IReadOnlyDictionary<string, IReadOnlyList<MmluItem>> dev, IReadOnlyDictionary<string,
            IReadOnlyList<MmluItem>> eval,
        MmluOptions options, CancellationToken cancellationToken = default, IProgress<EvalProgress>? progress = null,
        SuiteItems? items = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.Shots);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Shots, 5);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        var subjects = options.Subjects ?? eval.Keys.Order(StringComparer.Ordinal).ToList();
        foreach (var s in subjects)
            if (!eval.ContainsKey(s))
                throw new ArgumentException($"unknown MMLU subject '{s}'.", nameof(options));

        var work = subjects.SelectMany(s => eval[s].Take(options.LimitPerSubject ?? int.MaxValue).Select((item,
            i) => (item, i))).ToList();
        if (options.Sample is { } sample)
            work = Sampled(work, sample, options.Seed);
        // Items an earlier, interrupted run already scored come from the log; the rest are scored in batches.
        var done = new Dictionary<(string, int), MmluItemResult>();
        foreach (var (item, i) in work)
            if (items is not null && items.TryGet<MmluItemResult>(ItemKey(item.Subject, i), out var stored))
                done[(item.Subject, i)] = stored;
        var todo = work.Where(w => !done.ContainsKey((w.item.Subject, w.i))).ToList();
        progress?.Report(new EvalProgress(done.Count, work.Count));
        for (int start = 0; start < todo.Count; start += options.BatchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var chunk = todo.GetRange(start, Math.Min(options.BatchSize, todo.Count - start));
            var requests = new List<LogLikelihoodRequest>(chunk.Count * 4);
            foreach (var (item, _) in chunk)
            {
                var shots = options.Shots == 0 ? [] : (dev.TryGetValue(item.Subject,
                    out var d) ? d : []).Take(options.Shots).ToList();
                if (shots.Count < options.Shots)
                    throw new ArgumentOutOfRangeException(nameof(options),
                        $"{item.Subject}: {options.Shots} shots asked, dev has {shots.Count}.");
                var context = MmluPrompts.Context(item, shots);
                for (int c = 0; c < 4; c++)
                    requests.Add(HarnessEncoding.Pair(tokenizer, context, MmluPrompts.Continuation(c), options.AddBos));
            }
            var scored = LogLikelihood.Compute(model, requests, options.BatchSize, cancellationToken);
            for (int k = 0; k < chunk.Count; k++)
            {
                var lls = Enumerable.Range(0, 4).Select(c => scored[k * 4 + c].LogProb).ToArray();
                int predicted = 0;
                for (int c = 1; c < 4; c++)
                    if (lls[c] > lls[predicted])
                        predicted = c;
                bool truncated = Enumerable.Range(0, 4).Any(c => scored[k * 4 + c].Truncated);
                var result = new MmluItemResult(chunk[k].item.Subject, chunk[k].i, chunk[k].item.Answer, predicted,
                    lls, truncated);
                done[(result.Subject, result.Index)] = result;
                items?.Add(ItemKey(result.Subject, result.Index), result);
            }
            progress?.Report(new EvalProgress(done.Count, work.Count));
        }
        return Score(work.Select(w => done[(w.item.Subject, w.i)]).ToList(), options);
    }

    static string ItemKey(string subject, int index) => $"{subject}/{index}";

    /// <summary>N questions, as evenly as the categories allow (a category with too few gives its share to the
    /// others), each category's drawn by a seeded shuffle; returned in subject and file order. The same questions,
    /// seed and N give the same sample on every machine (System.Random with a seed is a fixed sequence).</summary>
    internal static List<(MmluItem item, int i)> Sampled(List<(MmluItem item, int i)> work, int n, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(n, 1);
        var random = new Random(seed);
        var pools = work.GroupBy(w => MmluPrompts.Categories.GetValueOrDefault(w.item.Subject, MmluPrompts.Other))
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g =>
            {
                var pool = g.ToArray();
                random.Shuffle(pool);
                return new Queue<(MmluItem item, int i)>(pool);
            }).ToList();
        var chosen = new List<(MmluItem item, int i)>();
        while (chosen.Count < n && pools.Any(p => p.Count > 0))
            foreach (var pool in pools)
                if (chosen.Count < n && pool.TryDequeue(out var next))
                    chosen.Add(next);
        return [.. chosen.OrderBy(w => w.item.Subject, StringComparer.Ordinal).ThenBy(w => w.i)];
    }

    /// <summary>Accuracy per subject ("mmlu_{subject}/acc"), per category ("mmlu_stem/acc" …), overall ("mmlu/acc",
    /// micro over questions) and "mmlu/acc_macro" (unweighted mean over subjects).</summary>
    internal static SuiteResult Score(IReadOnlyList<MmluItemResult> results, MmluOptions options)
    {
        var metrics = new List<MetricValue>();
        static MetricValue Acc(string name, IEnumerable<MmluItemResult> items)
        {
            long n = 0, correct = 0;
            foreach (var r in items)
            {
                n++;
                if (r.Predicted == r.Answer)
                    correct++;
            }
            if (n == 0)
                return new MetricValue(name, double.NaN, 0);
            var (low, high) = Wilson.Interval(correct, n);
            return new MetricValue(name, (double)correct / n, n, low, high);
        }
        metrics.Add(Acc("mmlu/acc", results));
        var bySubject = results.GroupBy(r => r.Subject).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var subjectAcc = bySubject.Select(g => Acc($"mmlu_{g.Key}/acc", g)).ToList();
        metrics.Add(new MetricValue("mmlu/acc_macro",
            subjectAcc.Count == 0 ? double.NaN : subjectAcc.Average(m => m.Value), subjectAcc.Count));
        foreach (var category in new[] { MmluPrompts.Stem, MmluPrompts.Humanities, MmluPrompts.SocialSciences,
            MmluPrompts.Other })
        {
            var members = results.Where(r => MmluPrompts.Categories.GetValueOrDefault(r.Subject) == category).ToList();
            if (members.Count > 0)
                metrics.Add(Acc($"mmlu_{category}/acc", members));
        }
        metrics.AddRange(subjectAcc);
        return new SuiteResult("mmlu", FormatVersion, metrics, new MmluDetails(options.Split, options.Shots, results))
        {
            Items = results.Count,
            Truncated = results.Count(r => r.Truncated),
        };
    }
}

/// <summary>The harness's request encoding: trailing spaces of the context move to the continuation; the continuation's
/// tokens are those of (context + continuation) after the context's own tokens.</summary>
public static class HarnessEncoding
{
    public static LogLikelihoodRequest Pair(TextTokenizer tokenizer, string context, string continuation, bool addBos)
    {
        int spaces = context.Length - context.TrimEnd().Length;
        if (spaces > 0)
            (context, continuation) = (context[..^spaces], context[^spaces..] + continuation);
        var whole = tokenizer.Encode(context + continuation, SpecialTokenText.Literal, addBos);
        var ctx = tokenizer.Encode(context, SpecialTokenText.Literal, addBos);
        if (ctx.Count == 0)
            ctx = [tokenizer.BosId ?? tokenizer.EosId
                ?? throw new ArgumentException("empty context and no BOS/EOS to stand for it.")];
        return new LogLikelihoodRequest(ctx, whole.Skip(Math.Min(ctx.Count, whole.Count)).ToArray());
    }
}

/// <summary>RFC 4180 CSV: quoted fields with doubled quotes and embedded line breaks, CRLF or LF, no header handling,
/// last record with or without a line break. Yields each record with the line it starts on.</summary>
internal static class Csv
{
    public static IEnumerable<(IReadOnlyList<string> Record, int Line)> Parse(string text)
    {
        var fields = new List<string>();
        var field = new StringBuilder();
        int i = 0, line = 1, start = 1;
        bool any = false; // whether the current record has begun
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '"' && field.Length == 0)
            {
                // Quoted field: runs to the closing quote; "" is a literal quote.
                any = true;
                int open = line;
                for (i++; ; i++)
                {
                    if (i >= text.Length)
                        throw new FormatException($"line {open}: unterminated quoted field.");
                    if (text[i] == '"')
                    {
                        if (i + 1 < text.Length && text[i + 1] == '"')
                        {
                            field.Append('"');
                            i++;
                            continue;
                        }
                        i++;
                        break;
                    }
                    if (text[i] == '\n')
                        line++;
                    field.Append(text[i]);
                }
                if (i < text.Length && text[i] is not (',' or '\r' or '\n'))
                    throw new FormatException($"line {line}: unexpected '{text[i]}' after a closing quote.");
                continue;
            }
            if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
                any = true;
                i++;
                continue;
            }
            if (c is '\r' or '\n')
            {
                i += c == '\r' && i + 1 < text.Length && text[i + 1] == '\n' ? 2 : 1;
                if (any || field.Length > 0)
                {
                    fields.Add(field.ToString());
                    yield return (fields.ToArray(), start);
                }
                fields.Clear();
                field.Clear();
                any = false;
                start = ++line;
                continue;
            }
            field.Append(c);
            any = true;
            i++;
        }
        if (any || field.Length > 0)
        {
            fields.Add(field.ToString());
            yield return (fields.ToArray(), start);
        }
    }
}
