// GRPO's and PPO's reward: the weighted sum of its functions, built from the config's rewards (custom ones matched by
// name among those the caller passed). Keeps each function's scores so a step can report their means and spreads.
namespace FineTune.Training.Rewards;

public sealed class RewardSet : IDisposable
{
    readonly IReadOnlyList<(IRewardFunction Function, double Weight)> _functions;

    RewardSet(IReadOnlyList<(IRewardFunction, double)> functions, IReadOnlyList<string> names)
    {
        _functions = functions;
        Names = names;
    }

    /// <summary>What each function is reported as: the spec's name, else its type (field_match with fields:
    /// field_match_FIELD…).</summary>
    public IReadOnlyList<string> Names { get; }

    public static string NameOf(RewardSpec spec) => spec.Name ?? (spec.Type == "field_match" && spec.Fields is
    { Count: > 0 } fields ? "field_match_" + string.Join("_", fields) : spec.Type);

    /// <summary>True when a built-in function reads text (the run then needs a tokenizer); a custom one that does
    /// says so when it is handed none.</summary>
    public bool ReadsText => _functions.Any(f =>
        f.Function is JsonValidReward or SchemaValidReward or FieldMatchReward or Gsm8kReward or RegexReward);

    /// <param name="section">where the specs come from (grpo, ppo), for messages</param>
    public static RewardSet Create(IReadOnlyList<RewardSpec> specs, IEnumerable<IRewardFunction>? custom,
        int policyVocabulary, string section = "grpo")
    {
        var byName = (custom ?? []).ToDictionary(f => f.Name);
        var names = specs.Select(NameOf).ToList();
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new TrainingConfigException($"{section}.rewards: {twice.Count()} rewards are named " +
                $"'{twice.Key}'; give " +
                "each a distinct \"name\" (metrics report them by name).");
        var functions = new List<(IRewardFunction, double)>();
        try
        {
            foreach (var spec in specs)
                functions.Add((spec.Type switch
                {
                    "json_valid" => new JsonValidReward(),
                    "schema_valid" => new SchemaValidReward(spec.Schema),
                    "field_match" => new FieldMatchReward(spec.Fields),
                    "gsm8k" => new Gsm8kReward(),
                    "regex" => new RegexReward(spec.Pattern!),
                    "length" => new LengthReward(spec.Target!.Value, spec.Penalty),
                    "reward_model" => RewardModel(spec, policyVocabulary),
                    "custom" => byName.GetValueOrDefault(spec.Name!) ?? throw new TrainingConfigException(
                        $"{section}.rewards: no custom reward function named '{spec.Name}' was given (given: " +
                        $"{(byName.Count == 0 ? "none" : string.Join(", ", byName.Keys))})."),
                    _ => throw new TrainingConfigException($"{section}.rewards: unknown type '{spec.Type}'."),
                }, spec.Weight));
        }
        catch
        {
            foreach (var (function, _) in functions)
                (function as IDisposable)?.Dispose();
            throw;
        }
        return new RewardSet(functions, names);
    }

    static RewardModelReward RewardModel(RewardSpec spec, int policyVocabulary)
    {
        var scorer = RewardScorer.Open(spec.Model!, spec.Adapter);
        if (scorer.VocabSize != policyVocabulary)
        {
            scorer.Dispose();
            throw new TrainingConfigException($"rewards: the reward model '{spec.Model}' has a vocabulary of " +
                $"{scorer.VocabSize}, the policy {policyVocabulary}: it must share the policy's tokenizer.");
        }
        return new RewardModelReward(scorer);
    }

    /// <summary>Each function's scores (functions × completions) and the weighted totals.</summary>
    public (double[][] PerFunction, double[] Total) Score(IReadOnlyList<RewardContext> completions)
    {
        var per = _functions.Select(f => f.Function.Score(completions)).ToArray();
        for (int i = 0; i < per.Length; i++)
            if (per[i].Length != completions.Count || per[i].Any(v => !double.IsFinite(v)))
                throw new InvalidOperationException($"reward '{Names[i]}' returned " +
                    $"{per[i].Length} scores for {completions.Count} completions, or a score that is not finite.");
        var total = new double[completions.Count];
        for (int i = 0; i < per.Length; i++)
            for (int c = 0; c < total.Length; c++)
                total[c] += _functions[i].Weight * per[i][c];
        return (per, total);
    }

    public void Dispose()
    {
        foreach (var (function, _) in _functions)
            (function as IDisposable)?.Dispose();
    }
}
