// PPO against a reward (InstructGPT's RLHF step; TRL's PPOTrainer). Per step, over the step's prompts:
//   1. one completion each, sampled from the current policy (adapters applied, unmerged; draws seeded by step and
//      example), scored at its end by the reward (usually a reward model);
//   2. without gradients: the rollout policy's log-probs and values (value head on the policy's hidden states), the
//      reference's log-probs (adapters off, or a frozen copy); per-token rewards −β(log π_old − log π_ref) plus
//      the score on the last token; GAE advantages (γ, λ), whitened, and returns;
//   3. ppo_epochs passes over the rollouts in num_mini_batches shuffled minibatches, each an optimizer update of the
//      clipped surrogate + vf_coef × the clipped value loss (PpoLoss);
//   4. β adapts towards target_kl when one is set (KlController).
// Dropout stays off throughout (as TRL does), so the first update's ratio is exactly 1. The value head and β travel
// in checkpoints, so a resumed run continues exactly.
using System.Diagnostics;
using System.Text.Json;
using FineTune.Data.Tokenization;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;
using FineTune.Training.Rewards;

namespace FineTune.Training.Recipes;

// ITrainingRecipe again: its public ExtraParameters, SaveState and LoadState replace the interface's defaults.
public sealed class PpoRecipe : SamplingRecipe, ITrainingRecipe
{
    const string ValueHeadFile = "value_head.safetensors", StateFile = "ppo_state.json";
    readonly Llama? _reference;
    readonly PpoConfig _config;
    readonly ValueHead _valueHead;
    readonly KlController _kl;
    readonly int _seed;

    public PpoRecipe(Llama policy, Llama? reference, PpoConfig config, RewardSet rewards, TextTokenizer? tokenizer,
        int seed) : base(policy, rewards, tokenizer)
    {
        _reference = reference;
        _config = config;
        _seed = seed;
        _valueHead = new ValueHead(policy.Config.HiddenSize);
        _kl = new KlController(config.KlCoef, config.TargetKl, config.KlHorizon);
    }

    /// <summary>Full fine-tuning: the frozen copy of the base; with an adapter: null (adapters off).</summary>
    public Llama? Reference => _reference;

    public IEnumerable<(string Name, Parameter Parameter)> ExtraParameters => _valueHead.Named();

    protected override GenerationOptions SamplingOptions =>
        Sampling(_config.MaxNewTokens, _config.Temperature, _config.TopP, _config.TopK);

    public override StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater)
    {
        Policy.eval();
        // 1. rollouts and scores
        var clock = Stopwatch.StartNew();
        var prompts = microBatches.SelectMany(b => b).Select(row => PromptOf(train, row[0])).ToArray();
        int[][] completions;
        using (var engine = OpenRolloutEngine())
            completions = Sample(engine, [.. prompts.Select(p => p.Ids)], 1, SamplingOptions,
                (p, _) => Rollouts.Seed(_seed, step, prompts[p].Example));
        double rolloutSeconds = clock.Elapsed.TotalSeconds;
        var (perFunction, scores) = Rewards.Score([.. completions.Select((c, i) => Context(prompts[i], c))]);
        var rows = completions.Select((c, i) => Row(prompts[i], c)).ToList();
        int length = rows.Max(r => r.Ids.Length) - 1;

        // 2. what the rollout policy and the reference make of them; rewards, advantages, returns
        using var scope = NewDisposeScope();
        Tensor oldLogProbs, oldValues, entropy, mask, referenceLogProbs, advantages, returns;
        using (no_grad())
        {
            (oldLogProbs, oldValues, entropy, mask) = TokenLogProbs.WithValues(Policy, _valueHead, rows, length);
            using (_reference is null ? Policy.AdaptersDisabled() : null)
                referenceLogProbs = TokenLogProbs.Compute(_reference ?? Policy, rows, length).LogProbs;
            var tokenRewards = PpoLoss.ShapedRewards(tensor(scores.Select(s => (float)s).ToArray()), oldLogProbs,
                referenceLogProbs, mask, _kl.Value);
            (advantages, returns) = Advantages.Gae(tokenRewards, oldValues, mask, _config.Gamma, _config.Lam);
            if (_config.WhitenAdvantages)
                advantages = Advantages.Whiten(advantages, mask);
        }
        double klPerResponse = (oldLogProbs.Minus(referenceLogProbs) * mask).sum(1).mean().item<float>();
        double meanEntropy = PpoLoss.MaskedMean(entropy, mask).item<float>();

        // 3. epochs of minibatch updates
        int n = rows.Count, minibatches = Math.Min(_config.NumMiniBatches, n);
        double policyLoss = 0, valueLoss = 0, clip = 0, approxKl = 0, valueClip = 0;
        int updates = 0;
        for (int epoch = 0; epoch < _config.PpoEpochs; epoch++)
        {
            var order = Enumerable.Range(0, n).ToArray();
            new Random(Rollouts.Seed(_seed, step, epoch, -1)).Shuffle(order);
            foreach (var part in order.Chunk((n + minibatches - 1) / minibatches))
            {
                using var inner = NewDisposeScope();
                var index = tensor(part.Select(i => (long)i).ToArray());
                var (logProbs, values, _, partMask) = TokenLogProbs.WithValues(Policy, _valueHead,
                    [.. part.Select(i => rows[i])], length);
                var losses = PpoLoss.Compute(logProbs, oldLogProbs.index_select(0, index),
                    advantages.index_select(0, index), values, oldValues.index_select(0, index),
                    returns.index_select(0, index), partMask, _config.ClipRange, _config.ClipRangeValue);
                losses.Policy.Plus(losses.Value.Times(_config.VfCoef)).backward();
                updater.Update();
                policyLoss += losses.Policy.item<float>();
                valueLoss += losses.Value.item<float>();
                clip += losses.ClipFraction;
                approxKl += losses.ApproxKl;
                valueClip += losses.ValueClipFraction;
                updates++;
            }
        }
        // 4. β towards the target KL
        double klCoefficient = _kl.Value;
        _kl.Update(klPerResponse, n);

        long sampled = completions.Sum(c => (long)c.Length);
        var metrics = new Dictionary<string, double>
        {
            ["reward"] = scores.Average(), ["reward_std"] = Std(scores), ["kl"] = klPerResponse,
            ["kl_coef"] = klCoefficient, ["entropy"] = meanEntropy, ["policy_loss"] = policyLoss / updates,
            ["value_loss"] = valueLoss / updates, ["clip_fraction"] = clip / updates,
            ["approx_kl"] = approxKl / updates, ["value_clip_fraction"] = valueClip / updates,
            ["completion_length"] = (double)sampled / n, ["rollout_seconds"] = rolloutSeconds,
            ["rollout_tokens_per_second"] = sampled / Math.Max(1e-9, rolloutSeconds),
        };
        AddRewardMetrics(metrics, [perFunction]);
        return new StepResult((policyLoss + _config.VfCoef * valueLoss) / updates,
            (double)scores.Count(s => s > 0) / n, rows.Sum(r => (long)r.Ids.Length) * updates)
        {
            Rollout = metrics,
        };
    }

    public void SaveState(string checkpoint)
    {
        SafeTensorsWriter.Write(Path.Combine(checkpoint, ValueHeadFile),
            [.. _valueHead.Named().Select(p => TensorData.FromFloat32(p.Name, p.Parameter.shape,
                p.Parameter.ToFloat32Array()))], new Dictionary<string, string> { ["format"] = "pt" });
        File.WriteAllText(Path.Combine(checkpoint, StateFile),
            JsonSerializer.Serialize(new Dictionary<string, double> { ["kl_coef"] = _kl.Value }));
    }

    public void LoadState(string checkpoint)
    {
        using (var file = SafeTensorsFile.Open(Path.Combine(checkpoint, ValueHeadFile)))
        using (no_grad())
            foreach (var (name, parameter) in _valueHead.Named())
            {
                var data = file.Read(name);
                using var values = tensor(data.ToFloat32(), data.Shape);
                parameter.copy_(values);
            }
        var state = JsonSerializer.Deserialize<Dictionary<string, double>>(
            File.ReadAllText(Path.Combine(checkpoint, StateFile)))!;
        _kl.Reset(state["kl_coef"]);
    }

    public override void Dispose()
    {
        _valueHead.Dispose();
        _reference?.Dispose();
        base.Dispose();
    }
}
