// A recipe is one training objective: which data it reads, how a step's loss is computed, how the validation split is
// scored. Everything else (batch plans, optimizer, schedule, checkpoints and exact resume, early stopping, metrics)
// is the Trainer's and shared. Recipes: sft, dpo, kto, reward_model, grpo, ppo.
using FineTune.Data.Tokenization;
using FineTune.Torch;

namespace FineTune.Training.Recipes;

/// <summary>One optimizer step's forward and backward: the mean loss over the step's units (trained tokens, pairs),
/// the accuracy that objective reports, the input tokens, and the rewards of a preference objective.</summary>
public sealed record StepResult(double Loss, double Accuracy, long Tokens, double? RewardChosen = null,
    double? RewardRejected = null)
{
    /// <summary>An RL recipe's rollout numbers (rewards, KL, completion length, …), by name.</summary>
    public IReadOnlyDictionary<string, double>? Rollout { get; init; }
}

/// <summary>A validation pass: the summed loss over Count units, the hits among them, and the summed margin
/// (chosen − rejected) of a preference objective.</summary>
public sealed record EvalResult(double LossSum, long Count, long Hits, double? MarginSum = null)
{
    /// <summary>An RL recipe's mean reward per function on the validation prompts.</summary>
    public IReadOnlyDictionary<string, double>? Rewards { get; init; }
}

/// <summary>Packed: rows may pack several examples (when data.packing is on; else length-bucketed). LengthBucketed:
/// one example per row, batches of similar lengths. Shuffled: one example per row, batches as drawn, for a recipe
/// whose batch must mix its examples (KTO's KL term; lengths can follow the rating).</summary>
public enum Batching { Packed, LengthBucketed, Shuffled }

public interface ITrainingRecipe : IDisposable
{
    /// <summary>What the tokenized splits must hold.</summary>
    ShardKind DataKind { get; }

    /// <summary>How examples may be grouped into micro-batches.</summary>
    Batching Batching { get; }

    /// <summary>Forward and backward over the step's micro-batches (rows of example indices); gradients accumulate,
    /// normalised so that they are those of the step's mean loss.</summary>
    /// <param name="step">the step being taken, from 0: what a recipe that samples seeds its draws with, so a resumed
    /// run draws the same</param>
    /// <param name="updater">the optimizer update, for a recipe that takes several in one step (PPO's epochs over
    /// minibatches of one rollout); when a recipe takes none, the trainer takes one after it</param>
    StepResult ForwardBackward(TokenizedSplit train, IReadOnlyList<int[][]> microBatches, int step,
        StepUpdater updater);

    /// <summary>Trainable parameters the recipe adds beside the model's (PPO's value head), by name.</summary>
    IEnumerable<(string Name, Parameter Parameter)> ExtraParameters => [];

    /// <summary>Writes what an exact resume needs besides the model and the optimizer into a checkpoint being
    /// written.</summary>
    void SaveState(string checkpoint) { }

    /// <summary>Reads back what SaveState wrote.</summary>
    void LoadState(string checkpoint) { }

    /// <summary>The loss over these micro-batches of a split, without gradients.</summary>
    EvalResult Evaluate(TokenizedSplit split, IEnumerable<int[][]> microBatches);
}

/// <summary>One optimizer update: clip the accumulated gradients to optimizer.max_grad_norm, step at this step's
/// learning rate, zero them. Counts the updates and keeps the last gradient norm (before clipping).</summary>
public sealed class StepUpdater(Func<double> update)
{
    public int Updates { get; private set; }
    public double LastGradNorm { get; private set; }

    public double Update()
    {
        Updates++;
        return LastGradNorm = update();
    }
}

public static class TrainingRecipes
{
    /// <summary>What an objective's recipe reads (its <see cref="ITrainingRecipe.DataKind"/>), known before any
    /// recipe is built: what a pipeline checks its training stages against.</summary>
    public static ShardKind DataKindOf(TrainingObjective objective) => objective switch
    {
        TrainingObjective.Dpo or TrainingObjective.RewardModel => ShardKind.Pairs,
        TrainingObjective.Kto => ShardKind.Feedback,
        _ => ShardKind.Sequences,
    };

    /// <summary>The model a recipe trains: a causal LM, or a reward model (score head) for reward_model.</summary>
    public static Llama LoadModel(TrainingConfig config, PeftSettings? adapter) =>
        config.Objective == TrainingObjective.RewardModel
            ? Trainer.CheckBase(config.BaseModel, () => LlamaCheckpoints.LoadRewardModel(config.BaseModel,
                ScalarType.Float32, adapter))
            : Trainer.LoadBase(config.BaseModel, adapter);

    static GrpoRecipe Grpo(TrainingConfig config, Llama model, IEnumerable<Rewards.IRewardFunction>? custom)
    {
        var (rewards, tokenizer) = SamplingSetup(config, config.Grpo.Rewards, "grpo", model, custom);
        var reference = config.Grpo.Beta > 0 ? FrozenReference(config, model) : null;
        return new GrpoRecipe(model, reference, config.Grpo, rewards, tokenizer, config.Training.Seed)
        {
            Engine = config.Grpo.RolloutEngine, Threads = config.Training.Threads ?? 0,
        };
    }

    static PpoRecipe Ppo(TrainingConfig config, Llama model, IEnumerable<Rewards.IRewardFunction>? custom)
    {
        var (rewards, tokenizer) = SamplingSetup(config, config.Ppo.Rewards, "ppo", model, custom);
        return new PpoRecipe(model, FrozenReference(config, model), config.Ppo, rewards, tokenizer,
            config.Training.Seed)
        {
            Engine = config.Ppo.RolloutEngine, Threads = config.Training.Threads ?? 0,
        };
    }

    // The reward functions, and the base model's tokenizer when it has one (ids-only rewards — length,
    // reward_model, custom ones — need none).
    static (Rewards.RewardSet, FineTune.Text.TextTokenizer?) SamplingSetup(TrainingConfig config,
        IReadOnlyList<RewardSpec> specs, string section, Llama model, IEnumerable<Rewards.IRewardFunction>? custom)
    {
        FineTune.Text.TextTokenizer? tokenizer = null;
        try
        {
            tokenizer = FineTune.Text.TokenizerLoader.Load(config.BaseModel);
        }
        catch (Exception e) when (e is FineTune.Text.TokenizerLoadException or IOException)
        {
        }
        var rewards = Rewards.RewardSet.Create(specs, custom, model.Config.VocabSize, section);
        if (tokenizer is null && rewards.ReadsText)
        {
            rewards.Dispose();
            throw new TrainingConfigException($"{section}.rewards read the completions' text, and base_model " +
                $"'{config.BaseModel}' has no tokenizer files to decode them with.");
        }
        return (rewards, tokenizer);
    }

    /// <summary>The reference of a preference recipe: null when the policy has adapters (they are switched off
    /// instead), else a frozen copy of the base in the policy's compute dtype.</summary>
    public static Llama? FrozenReference(TrainingConfig config, Llama policy)
    {
        if (policy.Adapter is not null)
            return null;
        var reference = Trainer.LoadBase(config.BaseModel, null);
        foreach (var p in reference.parameters())
            p.requires_grad = false;
        reference.ComputeDtype = policy.ComputeDtype;
        return reference;
    }

    /// <summary>The recipe for the config's objective, around the model it trains (which it does not own).</summary>
    public static ITrainingRecipe Create(TrainingConfig config, Llama model,
        IEnumerable<Rewards.IRewardFunction>? customRewards = null) => config.Objective switch
        {
            TrainingObjective.Grpo => Grpo(config, model, customRewards),
            TrainingObjective.Ppo => Ppo(config, model, customRewards),
            TrainingObjective.Sft => new SftRecipe(model, config.Training.ChunkedLoss),
            TrainingObjective.Dpo => DpoRecipe.Create(config, model),
            TrainingObjective.RewardModel => new RewardModelRecipe(model, config.RewardModel),
            TrainingObjective.Kto => new KtoRecipe(model, FrozenReference(config, model), config.Kto),
            _ => throw new TrainingConfigException($"objective '{ConfigNames.Of(config.Objective)}' has no recipe."),
        };
}

/// <summary>Reading examples of a split into what the losses take.</summary>
static class Batches
{
    /// <summary>A row of packed sequence examples: ids, loss mask and which example each token belongs to.</summary>
    public static IReadOnlyList<PackedRow> Rows(TokenizedSplit split, int[][] batch) =>
        batch.Select(row =>
        {
            var examples = row.Select(i => split.Read(i).Sequences[0]).ToList();
            var ids = examples.SelectMany(e => e.Ids).ToArray();
            var mask = examples.SelectMany(e => e.Mask).ToArray();
            var segments = examples.SelectMany((e, k) => Enumerable.Repeat(k, e.Length)).ToArray();
            return new PackedRow(ids, mask, segments);
        }).ToList();

    /// <summary>Preference pairs: one example per row (pairs never pack).</summary>
    public static IReadOnlyList<PreferencePair> Pairs(TokenizedSplit split, int[][] batch) =>
        batch.Select(row => Pair(split.Read(row[0]))).ToList();

    /// <summary>Rated answers (KTO): one example per row.</summary>
    public static IReadOnlyList<FeedbackExample> Feedback(TokenizedSplit split, int[][] batch) =>
        batch.Select(row => Rated(split, row[0])).ToList();

    static FeedbackExample Rated(TokenizedSplit split, int index)
    {
        var e = split.Read(index);
        return new FeedbackExample(e.Sequences[0].Ids, e.Sequences[0].Mask, e.Desirable
            ?? throw new InvalidDataException($"{split.Name} example {index} has no rating (not a feedback shard?)."));
    }

    static PreferencePair Pair(TokenizedExample e) =>
        new(e.Sequences[0].Ids, e.Sequences[0].Mask, e.Sequences[1].Ids, e.Sequences[1].Mask);
}
