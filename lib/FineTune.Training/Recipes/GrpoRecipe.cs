// GRPO (Shao et al. 2024; TRL's GRPOTrainer with one optimisation pass per generation). Per step:
//   1. each prompt of the step (an example's tokens before its first trained one) gets G completions sampled from the
//      current policy (Rollouts), each with its reward (RewardSet: the weighted sum of the reward functions, which may
//      compare with the reference answer, the example's trained tokens);
//   2. advantages are normalised within each prompt's group (Advantages.Group; scale_rewards off: Dr. GRPO);
//   3. the clipped surrogate with an optional k3 KL to the reference (GrpoLoss), normalised over all the step's
//      completion tokens (token) or completions (sequence), is back-propagated micro-batch by micro-batch.
// The rollout policy is the policy of this step, so π_old = π (detached): the ratio is 1 and the clip has not bitten
// yet — the gradient is −A·∇log π (+ β ∇KL). Evaluation: a greedy answer per validation prompt, scored; valid_loss is
// minus the mean total reward, so the best weights kept are those with the highest reward.
using System.Diagnostics;
using FineTune.Data.Tokenization;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training.Rewards;

namespace FineTune.Training.Recipes;

public sealed class GrpoRecipe(Llama policy, Llama? reference, GrpoConfig config, RewardSet rewards,
    TextTokenizer? tokenizer, int seed) : ITrainingRecipe
{
    readonly HashSet<int> _stops = [.. policy.Config.EosTokenIds.Concat(tokenizer?.StopIds ?? [])];

    public ShardKind DataKind => ShardKind.Sequences;
    public Batching Batching => Batching.Shuffled;

    /// <summary>Full fine-tuning with β > 0: the frozen copy of the base; otherwise null.</summary>
    public Llama? Reference => reference;

    sealed record Prompt(int Example, int[] Ids, int[] Reference);

    static Prompt PromptOf(TokenizedSplit split, int index)
    {
        var sequence = split.Read(index).Sequences[0];
        int first = Array.IndexOf(sequence.Mask, (byte)1);
        if (first < 1)
            throw new InvalidDataException($"{split.Name} example {index} has no prompt (its first token is " +
                "trained, as in a text record): GRPO samples answers to prompts; give chat or prompt/completion data.");
        int end = first;
        while (end < sequence.Length && sequence.Mask[end] != 0)
            end++;
        return new Prompt(index, sequence.Ids[..first], sequence.Ids[first..end]);
    }

    GenerationOptions Sampling => new()
    {
        MaxNewTokens = config.MaxNewTokens, Temperature = (float)config.Temperature, TopK = config.TopK,
        TopP = (float)config.TopP,
    };

    string? Decode(IEnumerable<int> ids) => tokenizer?.Decode(ids.Where(id => !_stops.Contains(id)));

    RewardContext Context(Prompt prompt, int[] completion) =>
        new(prompt.Ids, completion, tokenizer?.Decode(prompt.Ids, skipSpecialTokens: false), Decode(completion),
            Decode(prompt.Reference));

    public StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step)
    {
        int G = config.NumGenerations;
        // 1. rollouts and rewards for the whole step, so the loss can be normalised over all of it
        var clock = Stopwatch.StartNew();
        policy.eval();
        var groups = new List<(Prompt[] Prompts, int[][] Completions, double[] Total, double[][] PerFunction)>();
        foreach (var batch in microBatches)
        {
            var prompts = batch.Select(row => PromptOf(train, row[0])).ToArray();
            var completions = Rollouts.Sample(policy, [.. prompts.Select(p => p.Ids)], G, Sampling,
                (p, k) => Rollouts.Seed(seed, step, prompts[p].Example, k), _stops);
            var contexts = completions.Select((c, r) => Context(prompts[r / G], c)).ToList();
            var (perFunction, total) = rewards.Score(contexts);
            groups.Add((prompts, completions, total, perFunction));
        }
        double rolloutSeconds = clock.Elapsed.TotalSeconds;
        long sampledTokens = groups.Sum(g => g.Completions.Sum(c => (long)c.Length));
        policy.train();

        // 2–3. advantages per group, then the loss micro-batch by micro-batch
        long stepTokens = sampledTokens, stepCompletions = groups.Sum(g => (long)g.Completions.Length);
        double lossSum = 0, klSum = 0, clipSum = 0;
        long inputTokens = 0;
        int zeroStd = 0;
        foreach (var (prompts, completions, total, _) in groups)
        {
            using var scope = NewDisposeScope();
            var advantages = Advantages.Group(tensor(total.Select(t => (float)t).ToArray()), G, config.ScaleRewards);
            for (int p = 0; p < prompts.Length; p++)
                if (total.Skip(p * G).Take(G).Distinct().Count() == 1)
                    zeroStd++;
            var rows = completions.Select((c, r) => (Ids: (int[])[.. prompts[r / G].Ids, .. c],
                Mask: (byte[])[.. new byte[prompts[r / G].Ids.Length], .. Enumerable.Repeat((byte)1, c.Length)]))
                .Where(r => r.Ids.Length >= 2).ToList();
            inputTokens += rows.Sum(r => (long)r.Ids.Length);
            var (logProbs, mask) = TokenLogProbs.Compute(policy, rows);
            Tensor? referenceLogProbs = null;
            if (config.Beta != 0)
                using (no_grad())
                using (reference is null ? policy.AdaptersDisabled() : null)
                    referenceLogProbs = TokenLogProbs.Compute(reference ?? policy, rows).LogProbs;
            var (perToken, clip, kl) = GrpoLoss.PerToken(logProbs, logProbs.detach(), referenceLogProbs, advantages,
                mask, config.Epsilon, config.EpsilonHigh ?? config.Epsilon, config.Beta);
            var loss = config.LossType == GrpoNormalization.Token
                ? perToken.sum().Times(1.0 / Math.Max(1, stepTokens))
                : (perToken.sum(1) / mask.sum(1).ClampMin(1)).sum().Times(1.0 / stepCompletions);
            loss.backward();
            lossSum += loss.item<float>();
            double share = (double)completions.Length / stepCompletions;
            klSum += kl * share;
            clipSum += clip * share;
        }
        var all = groups.SelectMany(g => g.Total).ToArray();
        var metrics = new Dictionary<string, double>
        {
            ["reward"] = all.Average(), ["reward_std"] = Std(all),
            ["zero_std_groups"] = (double)zeroStd / groups.Sum(g => g.Prompts.Length),
            ["kl"] = klSum, ["clip_fraction"] = clipSum,
            ["completion_length"] = (double)sampledTokens / stepCompletions,
            ["rollout_seconds"] = rolloutSeconds,
            ["rollout_tokens_per_second"] = sampledTokens / Math.Max(1e-9, rolloutSeconds),
        };
        for (int f = 0; f < rewards.Names.Count; f++)
        {
            var scores = groups.SelectMany(g => g.PerFunction[f]).ToArray();
            metrics[$"reward/{rewards.Names[f]}"] = scores.Average();
            metrics[$"reward/{rewards.Names[f]}_std"] = Std(scores);
        }
        return new StepResult(lossSum, (double)all.Count(t => t > 0) / all.Length, inputTokens) { Rollout = metrics };
    }

    static double Std(double[] values)
    {
        double mean = values.Average();
        return Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Length - 1));
    }

    public EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches)
    {
        var totals = new List<double>();
        var perFunction = rewards.Names.Select(_ => new List<double>()).ToArray();
        var greedy = Sampling with { Temperature = 0 };
        foreach (var batch in microBatches)
        {
            var prompts = batch.Select(row => PromptOf(split, row[0])).ToArray();
            var completions = Rollouts.Sample(policy, [.. prompts.Select(p => p.Ids)], 1, greedy, (_, _) => 0,
                _stops);
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

    public void Dispose()
    {
        reference?.Dispose();
        rewards.Dispose();
    }
}
