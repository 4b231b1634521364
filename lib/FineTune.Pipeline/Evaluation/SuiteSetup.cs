// What the Evaluation stage hands the suites: the evaluation sets the settings name (resolved to one version each and
// downloaded), the test split, decoding settings and the judge; and, per suite, the key of everything its numbers
// depend on, which scopes the resumable item log and makes the baseline cache key.
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Evals;
using FineTune.Evals.Judging;
using FineTune.Evals.Scoring;
using FineTune.Pipeline.EvalSets;

namespace FineTune.Pipeline.Evaluation;

public sealed record SuiteSetup(SuiteInputs Inputs, IReadOnlyDictionary<string, string> Keys, Rubric? Rubric)
{
    /// <summary>Resolves the sets the suites need (a missing set fails the stage with the command that adds it),
    /// downloads them to this host, and describes each suite's inputs.</summary>
    public static async Task<SuiteSetup> CreateAsync(PipelineSettings settings, IReadOnlyList<DataRecord> testSplit,
        string testSplitSha256, TaskSchema? schema, EvalSetStore sets, RunInputs inputs, CancellationToken ct)
    {
        var e = settings.Evaluation;
        var suites = e.Suites;
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        string common = $"template={settings.Tokenize.ChatTemplate};limit={e.Limit};max_new={e.MaxNewTokens};" +
            $"batch={e.BatchSize}";
        foreach (var s in suites.Where(s => s is "rouge" or "bleu" or "chrf" or "task" or "perplexity" or "judge"))
            keys[s] = $"test={testSplitSha256};{common}" + (s == "task" ? $";schema={schema?.ToJson().ToJsonString()}"
                : "");

        string? mmluDir = null, gsm8kDir = null;
        Rubric? rubric = null;
        if (suites.Contains("mmlu"))
        {
            var m = e.Mmlu!;
            var set = await sets.ResolveAsync(m.Set, m.Version, EvalSetKind.Mmlu, "evaluation.mmlu.set", ct);
            mmluDir = await inputs.BundleAsync(set.Manifest, ct);
            keys["mmlu"] = $"set={set.Sha256};shots={m.Shots};sample={m.Sample};seed={m.Seed};batch={e.BatchSize}";
        }
        if (suites.Any(s => s is "gsm8k" or "gsm8k_cot"))
        {
            var g = e.Gsm8k!;
            var set = await sets.ResolveAsync(g.Set, g.Version, EvalSetKind.Gsm8k, "evaluation.gsm8k.set", ct);
            gsm8kDir = await inputs.BundleAsync(set.Manifest, ct);
            foreach (var s in suites.Where(s => s is "gsm8k" or "gsm8k_cot"))
                keys[s] = $"set={set.Sha256};shots={g.Shots};limit={g.Limit};max_new={g.MaxNewTokens};" +
                    $"batch={e.BatchSize}";
        }
        if (suites.Contains("judge") && e.Judge?.Rubric is { } rubricName)
        {
            var set = await sets.ResolveAsync(rubricName, e.Judge.RubricVersion, EvalSetKind.Rubric,
                "evaluation.judge.rubric", ct);
            var text = await File.ReadAllTextAsync(Path.Combine(await inputs.BundleAsync(set.Manifest, ct),
                "rubric.md"), ct);
            rubric = new Rubric(text);
            keys["judge"] += $";rubric={set.Sha256}";
        }
        if (suites.Contains("judge"))
            keys["judge"] += $";pairwise={e.Judge?.Pairwise ?? true}";

        var suiteInputs = new SuiteInputs
        {
            MmluDirectory = mmluDir,
            Mmlu = new MmluOptions
            {
                Shots = e.Mmlu?.Shots ?? 5, Sample = e.Mmlu?.Sample, Seed = e.Mmlu?.Seed ?? 0,
                BatchSize = e.BatchSize,
            },
            Gsm8kDirectory = gsm8kDir,
            Gsm8kShots = e.Gsm8k?.Shots,
            Gsm8kLimit = e.Gsm8k?.Limit,
            TestSplit = () => testSplit,
            Limit = e.Limit,
            MaxNewTokens = e.MaxNewTokens,
            BatchSize = e.BatchSize,
            Schema = schema,
        };
        return new SuiteSetup(suiteInputs, keys, rubric);
    }

    /// <summary>The inputs for one suite: GSM8K generates worked answers with its own budget.</summary>
    public SuiteInputs For(string suite, PipelineSettings settings) =>
        suite is "gsm8k" or "gsm8k_cot" && settings.Evaluation.Gsm8k is { } g
            ? Inputs with { MaxNewTokens = g.MaxNewTokens } : Inputs;

    public static bool Pairwise(PipelineSettings settings) => settings.Evaluation.Judge?.Pairwise ?? true;
}
