// What the recipes that learn from their own samples (GRPO, PPO) share: prompts and reference answers read from
// tokenized chat data (the prompt is an example's tokens before its first trained one, the reference its trained
// tokens) or prompts alone (nothing trained: no reference), completions decoded for the reward functions, and the
// evaluation — one greedy answer per validation prompt, scored, valid_loss = minus the mean total reward.
using FineTune.Data.Tokenization;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training.Rewards;

namespace FineTune.Training.Recipes;

public abstract class SamplingRecipe(Llama policy, RewardSet rewards, TextTokenizer? tokenizer) : ITrainingRecipe
{
    protected Llama Policy => policy;
    protected RewardSet Rewards => rewards;
    protected HashSet<int> Stops { get; } = [.. policy.Config.EosTokenIds.Concat(tokenizer?.StopIds ?? [])];

    public ShardKind DataKind => ShardKind.Sequences;
    public Batching Batching => Batching.Shuffled;

    /// <summary>What the completions are sampled with (the section's rollout_engine).</summary>
    public RolloutEngine Engine { get; init; }

    /// <summary>The CPU engine's threads (0: all cores).</summary>
    public int Threads { get; init; }

    /// <summary>The engine a step's completions are sampled with, built from the policy as it is now: the managed
    /// CPU engine over a merged copy when the engine is cpu and the method folds into the weights; null: the
    /// TorchSharp model itself. Disposed once the step's completions are drawn.</summary>
    protected ICausalLm? OpenRolloutEngine() =>
        Engine == RolloutEngine.Cpu && MergedCopy.Reader(policy) is { } weights
            ? FineTune.Models.Inference.CpuLlama.Load(policy.Config, weights, Threads)
            : null;

    /// <summary>n completions per prompt from <paramref name="engine"/>, or the TorchSharp model when null.</summary>
    protected int[][] Sample(ICausalLm? engine, IReadOnlyList<int[]> prompts, int n, GenerationOptions options,
        Func<int, int, int> seedOf) =>
        engine is null ? Rollouts.Sample(policy, prompts, n, options, seedOf, Stops)
            : Rollouts.Sample(engine, prompts, n, options, seedOf, Stops);

    /// <summary>A prompt and its reference answer (none for a prompts record); Cut: the answer runs to the end of the
    /// tokenized example without the stop token that closes it, so truncation cut it short.</summary>
    protected sealed record Prompt(int Example, int[] Ids, int[] Reference, bool Cut = false);

    protected Prompt PromptOf(TokenizedSplit split, int index)
    {
        var sequence = split.Read(index).Sequences[0];
        int first = Array.IndexOf(sequence.Mask, (byte)1);
        if (first < 0)
            return new Prompt(index, sequence.Ids, []);   // a prompts record: the whole sequence, no reference
        if (first == 0)
            throw new InvalidDataException($"{split.Name} example {index} has no prompt (its first token is " +
                "trained, as in a text record): this recipe samples answers to prompts; give chat or " +
                "prompt/completion data.");
        int end = first;
        while (end < sequence.Length && sequence.Mask[end] != 0)
            end++;
        bool cut = end == sequence.Length && !Stops.Contains(sequence.Ids[end - 1]);
        return new Prompt(index, sequence.Ids[..first], sequence.Ids[first..end], cut);
    }

    protected static GenerationOptions Sampling(int maxNewTokens, double temperature, double topP, int topK) => new()
    {
        MaxNewTokens = maxNewTokens, Temperature = (float)temperature, TopK = topK, TopP = (float)topP,
    };

    protected abstract GenerationOptions SamplingOptions { get; }

    string? Decode(IEnumerable<int> ids) => tokenizer?.Decode(ids.Where(id => !Stops.Contains(id)));

    protected RewardContext Context(Prompt prompt, int[] completion) =>
        new(prompt.Ids, completion, tokenizer?.Decode(prompt.Ids, skipSpecialTokens: false), Decode(completion),
            prompt.Reference.Length == 0 ? null : Decode(prompt.Reference))
        {
            ReferenceCut = prompt.Cut
        };

    /// <summary>A prompt and its completion as a row whose mask marks the completion.</summary>
    protected static (int[] Ids, byte[] Mask) Row(Prompt prompt, int[] completion) =>
        ([.. prompt.Ids, .. completion], [.. new byte[prompt.Ids.Length], .. Enumerable.Repeat((byte)1,
            completion.Length)]);

    protected static double Std(IReadOnlyCollection<double> values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Count - 1));
    }

    /// <summary>reward/NAME and reward/NAME_std of each function over the step's completions.</summary>
    protected void AddRewardMetrics(Dictionary<string, double> metrics, IReadOnlyList<double[][]> perFunction)
    {
        for (int f = 0; f < rewards.Names.Count; f++)
        {
            var scores = perFunction.SelectMany(p => p[f]).ToArray();
            metrics[$"reward/{rewards.Names[f]}"] = scores.Average();
            metrics[$"reward/{rewards.Names[f]}_std"] = Std(scores);
        }
    }

    public abstract StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater);

    public EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches)
    {
        var totals = new List<double>();
        var perFunction = rewards.Names.Select(_ => new List<double>()).ToArray();
        var greedy = SamplingOptions with { Temperature = 0 };
        using var engine = OpenRolloutEngine();
        foreach (var batch in microBatches)
        {
            var prompts = batch.Select(row => PromptOf(split, row[0])).ToArray();
            var completions = Sample(engine, [.. prompts.Select(p => p.Ids)], 1, greedy, (_, _) => 0);
            var (per, total) = rewards.Score([.. completions.Select((c, r) => Context(prompts[r], c))]);
            totals.AddRange(total);
            for (int f = 0; f < per.Length; f++)
                perFunction[f].AddRange(per[f]);
        }
        var means = rewards.Names.Select((name, f) => (name, perFunction[f].DefaultIfEmpty(0).Average()))
            .ToDictionary(x => x.name, x => x.Item2);
        means["reward"] = totals.DefaultIfEmpty(0).Average();
        return new EvalResult(-totals.Sum(), totals.Count, totals.Count(t => t > 0)) { Rewards = means };
    }

    public virtual void Dispose() => rewards.Dispose();
}
