// GRPO (Shao et al. 2024; TRL's GRPOTrainer). Per step:
//   1. each prompt of the step gets G completions sampled from the current policy (Rollouts), each with its reward
//      (the weighted sum of the reward functions, which may compare with the reference answer);
//   2. advantages are normalised within each prompt's group (Advantages.Group; scale_rewards off: Dr. GRPO);
//   3. the clipped surrogate with an optional k3 KL to the reference (GrpoLoss), normalised over all the step's
//      completion tokens (token) or completions (sequence), is back-propagated micro-batch by micro-batch;
//      num_iterations (μ) passes over the same completions, an optimizer update after each.
// In the first pass the policy is the one that sampled, so π_old = π (detached): the ratio is 1 and the clip
// has not bitten — the gradient is −A·∇log π (+ β ∇KL). Later passes compare with the sampling policy's
// log-probs, kept from before the first.
using System.Diagnostics;
using FineTune.Data.Tokenization;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training.Rewards;

namespace FineTune.Training.Recipes;

public sealed class GrpoRecipe(Llama policy, Llama? reference, GrpoConfig config, RewardSet rewards,
    TextTokenizer? tokenizer, int seed) : SamplingRecipe(policy, rewards, tokenizer)
{
    /// <summary>Full fine-tuning with β > 0: the frozen copy of the base; otherwise null.</summary>
    public Llama? Reference => reference;

    protected override GenerationOptions SamplingOptions =>
        Sampling(config.MaxNewTokens, config.Temperature, config.TopP, config.TopK);

    public override StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater)
    {
        int G = config.NumGenerations;
        // 1. rollouts and rewards for the whole step, so the loss can be normalised over all of it
        var clock = Stopwatch.StartNew();
        Policy.eval();
        var groups = new List<(Prompt[] Prompts, int[][] Completions, double[] Total, double[][] PerFunction)>();
        using (var engine = OpenRolloutEngine())
            foreach (var batch in microBatches)
            {
                var prompts = batch.Select(row => PromptOf(train, row[0])).ToArray();
                var completions = Sample(engine, [.. prompts.Select(p => p.Ids)], G, SamplingOptions,
                    (p, k) => Rollouts.Seed(seed, step, prompts[p].Example, k));
                var (perFunction, total) = Rewards.Score([.. completions.Select((c, r) =>
                    Context(prompts[r / G], c))]);
                groups.Add((prompts, completions, total, perFunction));
            }
        double rolloutSeconds = clock.Elapsed.TotalSeconds;
        long sampledTokens = groups.Sum(g => g.Completions.Sum(c => (long)c.Length));
        Policy.train();

        // 2. advantages per group; with several passes, also the log-probs of the policy that sampled and of the
        //    reference, which stay as they are while the policy moves
        int passes = config.NumIterations;
        long stepCompletions = groups.Sum(g => (long)g.Completions.Length);
        int zeroStd = 0;
        using var stepScope = NewDisposeScope();
        var fixedParts = new List<(List<(int[] Ids, byte[] Mask)> Rows, Tensor Advantages, Tensor? Old,
            Tensor? Reference)>();
        foreach (var (prompts, completions, total, _) in groups)
        {
            for (int p = 0; p < prompts.Length; p++)
                if (total.Skip(p * G).Take(G).Distinct().Count() == 1)
                    zeroStd++;
            var rows = completions.Select((c, r) => Row(prompts[r / G], c)).ToList();
            var advantages = Advantages.Group(tensor(total.Select(t => (float)t).ToArray()), G, config.ScaleRewards);
            Tensor? old = null;
            if (passes > 1)
                using (no_grad())
                    old = TokenLogProbs.Compute(Policy, rows).LogProbs;
            fixedParts.Add((rows, advantages, old, passes > 1 ? ReferenceLogProbs(rows) : null));
        }

        // 3. the loss micro-batch by micro-batch; with several passes an optimizer update after each (with one, the
        //    trainer takes it)
        double lossSum = 0, klSum = 0, clipSum = 0;
        long inputTokens = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            foreach (var (rows, advantages, old, fixedReference) in fixedParts)
            {
                using var scope = NewDisposeScope();
                inputTokens += rows.Sum(r => (long)r.Ids.Length);
                var (logProbs, mask) = TokenLogProbs.Compute(Policy, rows);
                var referenceLogProbs = passes > 1 ? fixedReference : ReferenceLogProbs(rows);
                // one pass: the sampling policy is this one, so π_old = π (detached) and the ratio is 1
                var (perToken, clip, kl) = GrpoLoss.PerToken(logProbs, old ?? logProbs.detach(), referenceLogProbs,
                    advantages, mask, config.Epsilon, config.EpsilonHigh ?? config.Epsilon, config.Beta);
                var loss = config.LossType == GrpoNormalization.Token
                    ? perToken.sum().Times(1.0 / Math.Max(1, sampledTokens))
                    : (perToken.sum(1) / mask.sum(1).ClampMin(1)).sum().Times(1.0 / stepCompletions);
                loss.backward();
                lossSum += loss.item<float>() / passes;
                double share = (double)rows.Count / stepCompletions / passes;
                klSum += kl * share;
                clipSum += clip * share;
            }
            if (passes > 1)
                updater.Update();
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
        AddRewardMetrics(metrics, [.. groups.Select(g => g.PerFunction)]);
        return new StepResult(lossSum, (double)all.Count(t => t > 0) / all.Length, inputTokens) { Rollout = metrics };
    }

    /// <summary>The reference's log-probs of these rows (adapters off, or the frozen copy); null when β = 0.</summary>
    Tensor? ReferenceLogProbs(List<(int[] Ids, byte[] Mask)> rows)
    {
        if (config.Beta == 0)
            return null;
        using (no_grad())
        using (reference is null ? Policy.AdaptersDisabled() : null)
            return TokenLogProbs.Compute(reference ?? Policy, rows).LogProbs;
    }

    public override void Dispose()
    {
        reference?.Dispose();
        base.Dispose();
    }
}
