// Every evaluation suite by name, run the same way by `finetune eval` and the pipeline's Evaluation stage: MMLU and
// GSM8K on their benchmark sets, ROUGE, BLEU, chrF, the task metrics and the judge on the greedy answers to a test
// split (generated once and shared), perplexity on the test split's references.
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals.Judging;
using FineTune.Evals.Scoring;
using FineTune.Models.Generation;
using FineTune.Text;
using Microsoft.Extensions.AI;

namespace FineTune.Evals;

/// <summary>The judge's part of a suite run: its settings, its rubric, and, for a pairwise comparison, the baseline's
/// answers to the same prompts (null: grade each answer on the rubric). Client: any IChatClient; null: the
/// OpenAI-compatible endpoint the options name.</summary>
public sealed record JudgeInputs(JudgeOptions Options, Rubric? Rubric = null,
    Func<CancellationToken, Task<IReadOnlyList<TaskOutput>>>? BaselineAnswers = null, IChatClient? Client = null);

/// <summary>Where each suite's data comes from and how much of it to score. A suite whose data is not given fails
/// with a message that says which input it needs.</summary>
public sealed record SuiteInputs
{
    /// <summary>An MMLU folder (dev/ and the split's CSVs) and how to sample it.</summary>
    public string? MmluDirectory { get; init; }
    public MmluOptions Mmlu { get; init; } = new();
    /// <summary>A GSM8K folder: test.jsonl, and train.jsonl for gsm8k's shots.</summary>
    public string? Gsm8kDirectory { get; init; }
    public int? Gsm8kShots { get; init; }
    public int? Gsm8kLimit { get; init; }
    /// <summary>The test split (prepared chat records) that rouge, bleu, chrf, task, judge and perplexity score, read
    /// when a suite first needs it.</summary>
    public Func<IEnumerable<DataRecord>>? TestSplit { get; init; }
    /// <summary>At most this many test-split examples.</summary>
    public int? Limit { get; init; }
    public int MaxNewTokens { get; init; } = 256;
    public int BatchSize { get; init; } = 8;
    /// <summary>The task suite's answer schema; null: inferred from the references.</summary>
    public TaskSchema? Schema { get; init; }
    public JudgeInputs? Judge { get; init; }
}

public sealed class EvalSuites(ICausalLm model, TextTokenizer tokenizer, ChatTemplate chat, SuiteInputs inputs)
{
    public static IReadOnlyList<string> Names { get; } =
        ["mmlu", "gsm8k", "gsm8k_cot", "rouge", "bleu", "chrf", "task", "judge", "perplexity"];

    IReadOnlyList<TaskOutput>? answers;

    /// <summary>The greedy answers to the test split, once a suite that scores them has run (else null).</summary>
    public IReadOnlyList<TaskOutput>? Answers => answers;

    /// <summary>The prompt and scoring format of a suite: results of different formats are never compared or cached
    /// together.</summary>
    public static string FormatVersion(string suite) => suite switch
    {
        "mmlu" => Evals.Mmlu.FormatVersion,
        "gsm8k" or "gsm8k_cot" => Gsm8k.FormatVersion,
        "rouge" => TaskEval.RougeFormatVersion,
        "bleu" => TaskEval.BleuFormatVersion,
        "chrf" => TaskEval.ChrfFormatVersion,
        "task" => TaskMetrics.FormatVersion,
        "perplexity" => Perplexity.FormatVersion,
        "judge" => JudgeStatistics.FormatVersion,
        _ => throw new ArgumentException($"unknown suite '{suite}'; expected {string.Join(", ", Names)}."),
    };

    /// <summary>Runs one suite. <paramref name="items"/> holds what an interrupted run already scored for it, which is
    /// not scored again; progress reports items done of the total.</summary>
    public async Task<SuiteResult> RunAsync(string suite, SuiteItems? items, IProgress<EvalProgress>? progress,
        CancellationToken ct) => suite switch
        {
            "mmlu" => Evals.Mmlu.Evaluate(model, tokenizer, Required(inputs.MmluDirectory, "an MMLU set", suite),
                inputs.Mmlu with { BatchSize = Math.Max(inputs.Mmlu.BatchSize, 1) }, ct, progress, items),
            "gsm8k" or "gsm8k_cot" => await Gsm8kAsync(suite, progress, items, ct),
            "rouge" => TaskEval.Rouge(await AnswersAsync(items, progress, ct)),
            "bleu" => TaskEval.Bleu(await AnswersAsync(items, progress, ct)),
            "chrf" => TaskEval.Chrf(await AnswersAsync(items, progress, ct)),
            "task" => TaskEval.Task(await AnswersAsync(items, progress, ct), inputs.Schema),
            "perplexity" => Perplexity.Evaluate(model,
                TaskEval.Sequences(TestSplit(suite), tokenizer, chat, inputs.Limit), ct, items),
            "judge" => await JudgeAsync(items, progress, ct),
            _ => throw new ArgumentException($"unknown suite '{suite}'; expected {string.Join(", ", Names)}."),
        };

    /// <summary>The model's greedy answers to the test split, generated once for every suite that scores them; the
    /// first suite's item log keeps them for a resumed run.</summary>
    public async Task<IReadOnlyList<TaskOutput>> AnswersAsync(SuiteItems? items, IProgress<EvalProgress>? progress,
        CancellationToken ct) =>
        answers ??= await TaskEval.GenerateAsync(model, tokenizer, chat, TestSplit("the answers"),
            inputs.MaxNewTokens, inputs.BatchSize, inputs.Limit, ct, progress, items);

    IEnumerable<DataRecord> TestSplit(string suite) =>
        (inputs.TestSplit ?? throw new ArgumentException($"suite '{suite}' needs a test split (prepared chat " +
            "records).")).Invoke();

    static string Required(string? value, string what, string suite) =>
        value ?? throw new ArgumentException($"suite '{suite}' needs {what}.");

    Task<SuiteResult> Gsm8kAsync(string suite, IProgress<EvalProgress>? progress, SuiteItems? items,
        CancellationToken ct)
    {
        var dir = Required(inputs.Gsm8kDirectory, "a GSM8K set", suite);
        var variant = suite == "gsm8k_cot" ? Gsm8kVariant.ChainOfThought : Gsm8kVariant.Standard;
        var format = variant == Gsm8kVariant.ChainOfThought ? Gsm8kFormat.Cot : Gsm8kFormat.Gsm8k;
        var train = Path.Combine(dir, "train.jsonl");
        // A set without train.jsonl has no shots for gsm8k: zero-shot unless shots are asked for (then it fails).
        var shots = inputs.Gsm8kShots ?? (File.Exists(train) || variant == Gsm8kVariant.ChainOfThought ? null : 0);
        return Gsm8k.EvaluateAsync(model, tokenizer, File.Exists(train) ? Gsm8k.Load(train) : [],
            Gsm8k.Load(Path.Combine(dir, "test.jsonl")),
            completion => Gsm8kAnswers.Extract(completion, format),
            new Gsm8kOptions
            {
                Variant = variant, Shots = shots, Limit = inputs.Gsm8kLimit, BatchSize = inputs.BatchSize,
                MaxNewTokens = inputs.MaxNewTokens
            }, ct, progress, items);
    }

    /// <summary>Grades the answers on the rubric, or (baseline answers given) compares them pairwise with the
    /// baseline's in both orders. An unreachable judge throws (JudgeUnavailableException): it never becomes a
    /// score.</summary>
    async Task<SuiteResult> JudgeAsync(SuiteItems? items, IProgress<EvalProgress>? progress, CancellationToken ct)
    {
        var judgeInputs = inputs.Judge ?? throw new ArgumentException("suite 'judge' needs the judge's settings " +
            "(endpoint and model).");
        judgeInputs.Options.Validate();
        var outputs = await AnswersAsync(items, progress, ct);
        int truncated = outputs.Count(o => o.Truncated);
        var client = judgeInputs.Client ?? JudgeClientFactory.Create(judgeInputs.Options);
        try
        {
            var judge = new Judge(client, judgeInputs.Options, judgeInputs.Rubric);
            static string Prompt(TaskOutput o) => string.Join("\n", o.Prompt.Select(m => $"{m.Role}: {m.Content}"));
            static string Id(TaskOutput o) => o.Line.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (judgeInputs.BaselineAnswers is { } baselineAnswers)
            {
                // Pairwise: the candidate is A, the baseline B; the judge sees both orders, and only a consistent win
                // counts.
                var baseline = (await baselineAnswers(ct)).ToDictionary(o => o.Line);
                var pairs = outputs.Where(o => baseline.ContainsKey(o.Line))
                    .Select(o => new PairRequest(Id(o), Prompt(o), o.Prediction, baseline[o.Line].Prediction,
                        o.Reference)).ToList();
                if (pairs.Count == 0)
                    throw new ArgumentException("judge: the baseline answered none of the candidate's prompts.");
                return (await judge.CompareAsync(pairs, ct)).Result with
                {
                    Items = outputs.Count,
                    Truncated = truncated
                };
            }
            var report = await judge.GradeAsync(outputs.Select(o => new GradeRequest(Id(o), Prompt(o), o.Prediction,
                o.Reference)).ToList(), ct);
            return report.Result with { Items = outputs.Count, Truncated = truncated };
        }
        finally
        {
            if (judgeInputs.Client is null)
                client.Dispose();
        }
    }
}
