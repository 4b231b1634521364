// GSM8K as lm-evaluation-harness's `gsm8k` and `gsm8k_cot`: greedy generation until a stop string, answer extraction by
// a caller-supplied rule pair (strict, flexible), and exact match after the harness's normalisation (drop ",", "$",
// everything up to "#### ", a final "."; ignore case), with Wilson 95% intervals.
using System.Text.Json;
using System.Text.RegularExpressions;
using FineTune.Models.Generation;
using FineTune.Text;

namespace FineTune.Evals;

public sealed record Gsm8kOptions
{
    public Gsm8kVariant Variant { get; init; } = Gsm8kVariant.Standard;
    /// <summary>Shots: `gsm8k` takes the first K train rows (the harness samples them at random; first-K keeps runs
    /// repeatable), default 5; `gsm8k_cot` takes its fixed exemplars, default 8. Null = the variant's
    /// default.</summary>
    public int? Shots { get; init; }
    public int BatchSize { get; init; } = 8;
    public int MaxNewTokens { get; init; } = 256;
    public int? Limit { get; init; }                      // the first N test problems
    public IReadOnlyList<string>? StopStrings { get; init; } // null = the variant's harness stops
    public bool AddBos { get; init; }                     // the harness's HF backend adds no BOS by default
}

/// <summary>One problem's generation, the two extracted answers and whether each matched the gold answer; Truncated
/// when the prompt lost tokens from its left to leave room for the generation.</summary>
public sealed record Gsm8kItemResult(int Index, string Completion, string? Strict, string? Flexible, string Gold,
    bool StrictCorrect, bool FlexibleCorrect, bool Truncated = false);

public sealed record Gsm8kDetails(string Task, int Shots, IReadOnlyList<Gsm8kItemResult> Items);

public static class Gsm8k
{
    public const string FormatVersion = "gsm8k-harness-v1";
    public const string StrictMatch = "strict-match", FlexibleExtract = "flexible-extract";

    /// <summary>Reads a GSM8K JSON Lines file ({"question", "answer"} per line).</summary>
    public static IReadOnlyList<Gsm8kItem> Load(string path)
    {
        var items = new List<Gsm8kItem>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
                continue;
            using var doc = JsonDocument.Parse(text);
            string Field(string name) =>
                doc.RootElement.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString()! : throw new FormatException($"{path}:{line}: missing string field '{name}'.");
            items.Add(new Gsm8kItem(Field("question"), Field("answer")));
        }
        return items;
    }

    public static string TaskName(Gsm8kVariant variant) =>
        variant == Gsm8kVariant.ChainOfThought ? "gsm8k_cot" : "gsm8k";

    /// <summary>The prompt for test item <paramref name="item"/> (shots from <paramref name="train"/> for
    /// `gsm8k`).</summary>
    public static string Prompt(Gsm8kItem item, IReadOnlyList<Gsm8kItem> train,
        Gsm8kOptions options) => options.Variant switch
        {
            Gsm8kVariant.ChainOfThought => Gsm8kPrompts.ChainOfThought(item, ShotCount(options)),
            _ => Gsm8kPrompts.Standard(item, train.Take(ShotCount(options)).ToList()),
        };

    static int ShotCount(Gsm8kOptions o) => o.Shots ?? (o.Variant == Gsm8kVariant.ChainOfThought ? 8 : 5);

    /// <summary>
    /// Generates greedily for each test problem and scores both extraction rules. <paramref name="extract"/> returns
    /// the strict and flexible answers of a completion (null when a rule finds none); for `gsm8k_cot` its strict rule
    /// is "The answer is (…)." rather than "#### (…)" (FineTune.Evals.Scoring.Gsm8kAnswers provides both). A prompt
    /// keeps its rightmost context - max_new_tokens tokens (PromptFit); <paramref name="items"/> resumes an interrupted
    /// run.
    /// </summary>
    public static async Task<SuiteResult> EvaluateAsync(ICausalLm model, TextTokenizer tokenizer,
        IReadOnlyList<Gsm8kItem> train, IReadOnlyList<Gsm8kItem> test, Func<string,
            (string? Strict, string? Flexible)> extract,
        Gsm8kOptions options, CancellationToken cancellationToken = default, IProgress<EvalProgress>? progress = null,
        SuiteItems? items = null)
    {
        ArgumentNullException.ThrowIfNull(extract);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BatchSize, 1);
        int shots = ShotCount(options);
        ArgumentOutOfRangeException.ThrowIfNegative(shots);
        if (options.Variant == Gsm8kVariant.ChainOfThought && shots > Gsm8kPrompts.ChainOfThoughtExemplars.Count)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"gsm8k_cot has {Gsm8kPrompts.ChainOfThoughtExemplars.Count} exemplars; {shots} asked.");
        if (options.Variant == Gsm8kVariant.Standard && shots > train.Count)
            throw new ArgumentOutOfRangeException(nameof(options),
                $"{shots} shots asked; train has {train.Count} rows.");

        var (room, maxNew) = PromptFit.Budget(model.Config.MaxPositionEmbeddings, options.MaxNewTokens);
        var generation = new GenerationOptions
        {
            MaxNewTokens = maxNew,
            Temperature = 0f,
            StopTokenIds = tokenizer.EosId is { } eos ? [eos] : [],
            StopStrings = options.StopStrings ?? (options.Variant == Gsm8kVariant.ChainOfThought
                ? Gsm8kPrompts.ChainOfThoughtStops : Gsm8kPrompts.StandardStops),
        };
        var generator = new Generator(model);
        var problems = test.Take(options.Limit ?? int.MaxValue).ToList();
        var done = new Dictionary<int, Gsm8kItemResult>();
        for (int i = 0; i < problems.Count; i++)
            if (items is not null && items.TryGet<Gsm8kItemResult>(ItemKey(i), out var stored))
                done[i] = stored;
        var todo = Enumerable.Range(0, problems.Count).Where(i => !done.ContainsKey(i)).ToList();
        progress?.Report(new EvalProgress(done.Count, problems.Count));
        foreach (var chunk in todo.Chunk(options.BatchSize))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var prompts = chunk.Select(i => PromptFit.Left(tokenizer.Encode(Prompt(problems[i], train, options),
                SpecialTokenText.Literal, options.AddBos), room)).ToList();
            var outputs = await generator.GenerateAsync(prompts.Select(p => p.Ids).ToList(), generation,
                ids => tokenizer.Decode(ids), cancellationToken);
            for (int k = 0; k < chunk.Length; k++)
            {
                var completion = outputs[k].Text ?? "";
                var (strict, flexible) = extract(completion);
                var problem = problems[chunk[k]];
                var gold = options.Variant == Gsm8kVariant.ChainOfThought ? problem.Final : problem.Answer;
                var result = new Gsm8kItemResult(chunk[k], completion, strict, flexible, gold,
                    Scoring.Gsm8kAnswers.IsCorrect(strict, gold), Scoring.Gsm8kAnswers.IsCorrect(flexible, gold),
                        prompts[k].Truncated);
                done[chunk[k]] = result;
                items?.Add(ItemKey(chunk[k]), result);
            }
            progress?.Report(new EvalProgress(done.Count, problems.Count));
        }
        return Score(TaskName(options.Variant), shots,
            Enumerable.Range(0, problems.Count).Select(i => done[i]).ToList());
    }

    static string ItemKey(int index) => index.ToString(System.Globalization.CultureInfo.InvariantCulture);

    internal static SuiteResult Score(string task, int shots, IReadOnlyList<Gsm8kItemResult> results)
    {
        MetricValue Metric(string rule, Func<Gsm8kItemResult, bool> correct)
        {
            long n = results.Count, k = results.LongCount(correct);
            if (n == 0)
                return new MetricValue($"{task}/exact_match,{rule}", double.NaN, 0);
            var (low, high) = Wilson.Interval(k, n);
            return new MetricValue($"{task}/exact_match,{rule}", (double)k / n, n, low, high);
        }
        return new SuiteResult(task, FormatVersion,
            [Metric(StrictMatch, r => r.StrictCorrect), Metric(FlexibleExtract, r => r.FlexibleCorrect)],
            new Gsm8kDetails(task, shots, results))
        {
            Items = results.Count,
            Truncated = results.Count(r => r.Truncated)
        };
    }
}
