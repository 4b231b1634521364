// The training configuration: one JSON file (snake_case keys, every key optional except base_model, data.path and
// output_dir), in the spirit of Axolotl's. Defaults are the values below; docs/training-config.md lists every key.
// Loaded and checked by TrainingConfigLoader: unknown keys and impossible values are errors naming the key. Closed
// sets of choices are enums, parsed once when the config loads (JSON writes them snake_case: "prompt_tuning").
using FineTune.Torch;

namespace FineTune.Training;

public enum TrainingMethod { Full, Lora, Dora, Qlora, Ia3, PromptTuning, PrefixTuning }

/// <summary>The recipe: sft (cross-entropy on the masked tokens), dpo (preference pairs), reward_model (a scalar
/// score head trained on preference pairs), kto (answers rated up or down), grpo (sampled answers scored by reward
/// functions), ppo (sampled answers, a value head, GAE; rewarded by a reward model or functions).</summary>
public enum TrainingObjective { Sft, Dpo, RewardModel, Kto, Grpo, Ppo }

/// <summary>The learning rate after warmup: cosine or linear decay to lr · min_lr_ratio, or constant.</summary>
public enum ScheduleType { Cosine, Linear, Constant }

public sealed record TrainingConfig
{
    /// <summary>Hugging Face model directory or llama2.c .bin to start from.</summary>
    public string BaseModel { get; init; } = "";
    public DataConfig Data { get; init; } = new();
    /// <summary>full, lora, dora, qlora, ia3, prompt_tuning or prefix_tuning.</summary>
    public TrainingMethod Method { get; init; } = TrainingMethod.Lora;
    /// <summary>The recipe: sft (cross-entropy on the masked tokens), dpo (preference pairs), kto (rated answers),
    /// reward_model, grpo (sampled answers scored by reward functions) or ppo.</summary>
    public TrainingObjective Objective { get; init; } = TrainingObjective.Sft;
    /// <summary>LoRA, DoRA and QLoRA (rank, alpha, dropout, target_modules, use_rslora).</summary>
    public LoraSettings Lora { get; init; } = new();
    public Ia3Settings Ia3 { get; init; } = new();
    /// <summary>Prompt and prefix tuning (num_virtual_tokens).</summary>
    public PromptSettings Prompt { get; init; } = new();
    public DpoConfig Dpo { get; init; } = new();
    public RewardModelConfig RewardModel { get; init; } = new();
    public KtoConfig Kto { get; init; } = new();
    public GrpoConfig Grpo { get; init; } = new();
    public PpoConfig Ppo { get; init; } = new();
    public OptimizerConfig Optimizer { get; init; } = new();
    public ScheduleConfig Schedule { get; init; } = new();
    public LoopConfig Training { get; init; } = new();
    public EvalConfig Eval { get; init; } = new();
    public CheckpointConfig Checkpoint { get; init; } = new();
    /// <summary>Where checkpoints, the adapter or model, metrics and the report go.</summary>
    public string OutputDir { get; init; } = "";
    /// <summary>auto (continue from the newest checkpoint in output_dir if there is one), never, or a checkpoint
    /// directory.</summary>
    public string Resume { get; init; } = "auto";
}

public sealed record DataConfig
{
    /// <summary>A tokenized dataset directory (manifest.json + train/ and validation/ shards, from `finetune data
    /// tokenize`).</summary>
    public string Path { get; init; } = "";
    /// <summary>Pack several examples into each row (block-diagonal attention); otherwise pad with length
    /// bucketing.</summary>
    public bool Packing { get; init; } = true;
    /// <summary>Row length in tokens; examples longer than this are an error (truncate when tokenizing). Null: the
    /// longest example.</summary>
    public int? MaxLength { get; init; }
}

public sealed record DpoConfig
{
    public double Beta { get; init; } = 0.1;
}

/// <summary>What GRPO and PPO sample their completions with: torch, the TorchSharp model with its adapters applied
/// unmerged; cpu, the managed CPU engine over a copy of the policy with its adapter merged (LoRA, DoRA, QLoRA or full;
/// other methods sample with torch).</summary>
public enum RolloutEngine { Cpu, Torch }

public sealed record GrpoConfig
{
    /// <summary>cpu (the managed engine over a merged copy, rebuilt each step) or torch.</summary>
    public RolloutEngine RolloutEngine { get; init; }
    /// <summary>G: completions sampled per prompt; advantages are normalised within each group.</summary>
    public int NumGenerations { get; init; } = 4;
    public int MaxNewTokens { get; init; } = 64;
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public int TopK { get; init; }
    /// <summary>Weight of the k3 KL penalty to the reference; 0 (TRL's default) skips the reference.</summary>
    public double Beta { get; init; }
    /// <summary>The ratio clip: [1 − epsilon, 1 + epsilon_high]; epsilon_high null: epsilon (DAPO raises
    /// it).</summary>
    public double Epsilon { get; init; } = 0.2;
    public double? EpsilonHigh { get; init; }
    /// <summary>token: Σ over the step's completion tokens / their count (DAPO); sequence: each completion's mean,
    /// then the mean over completions (the paper).</summary>
    public GrpoNormalization LossType { get; init; } = GrpoNormalization.Token;
    /// <summary>Divide each group's advantages by its std; false: Dr. GRPO (the mean only).</summary>
    public bool ScaleRewards { get; init; } = true;
    /// <summary>μ: optimisation passes over each step's completions, an optimizer update after each (TRL's
    /// num_iterations). From the second pass on the policy has moved away from the one that sampled, and the ratio
    /// clip bites.</summary>
    public int NumIterations { get; init; } = 1;
    /// <summary>The reward: a weighted sum of these functions.</summary>
    public IReadOnlyList<RewardSpec> Rewards { get; init; } = [];
}

public sealed record PpoConfig
{
    /// <summary>As grpo.rollout_engine.</summary>
    public RolloutEngine RolloutEngine { get; init; }
    public int MaxNewTokens { get; init; } = 64;
    public double Temperature { get; init; } = 1.0;
    public double TopP { get; init; } = 1.0;
    public int TopK { get; init; }
    /// <summary>β of the per-token KL penalty to the reference (adapters off, or a frozen copy for full).</summary>
    public double KlCoef { get; init; } = 0.05;
    /// <summary>Adapt β towards this KL per response (Ziegler et al.); null: β stays fixed.</summary>
    public double? TargetKl { get; init; }
    public double KlHorizon { get; init; } = 10000;
    /// <summary>GAE's discount and λ.</summary>
    public double Gamma { get; init; } = 1.0;
    public double Lam { get; init; } = 0.95;
    /// <summary>The ratio clip ε and the value clip around the rollout's values.</summary>
    public double ClipRange { get; init; } = 0.2;
    public double ClipRangeValue { get; init; } = 0.2;
    /// <summary>Weight of the value loss beside the policy loss.</summary>
    public double VfCoef { get; init; } = 0.1;
    /// <summary>Optimisation passes over each step's rollouts, each in num_mini_batches updates.</summary>
    public int PpoEpochs { get; init; } = 4;
    public int NumMiniBatches { get; init; } = 1;
    public bool WhitenAdvantages { get; init; } = true;
    /// <summary>The score at the end of each response: a weighted sum, usually one reward_model.</summary>
    public IReadOnlyList<RewardSpec> Rewards { get; init; } = [];
}

/// <summary>One reward function of GRPO or PPO and its weight. type: json_valid, schema_valid, field_match, gsm8k,
/// regex, length, reward_model, or custom (a C# IRewardFunction given to Trainer.Create, by name).</summary>
public sealed record RewardSpec
{
    public string Type { get; init; } = "";
    public double Weight { get; init; } = 1.0;
    /// <summary>What metrics call it (reward/NAME); custom: the IRewardFunction's Name. Default: the type, or
    /// field_match_FIELD… for a field_match with fields.</summary>
    public string? Name { get; init; }
    /// <summary>field_match: the JSON fields compared with the reference's (null: all of the reference's).</summary>
    public IReadOnlyList<string>? Fields { get; init; }
    /// <summary>regex: 1 when the completion matches.</summary>
    public string? Pattern { get; init; }
    /// <summary>schema_valid: a JSON Schema file (properties, required); null: the reference's fields and
    /// kinds.</summary>
    public string? Schema { get; init; }
    /// <summary>length: completions longer than this many tokens pay penalty per extra token.</summary>
    public int? Target { get; init; }
    public double Penalty { get; init; } = 0.01;
    /// <summary>reward_model: a reward model directory (or its base, with adapter).</summary>
    public string? Model { get; init; }
    public string? Adapter { get; init; }
}

public sealed record KtoConfig
{
    /// <summary>How sharply the loss saturates in the log-ratio to the reference (as DPO's β).</summary>
    public double Beta { get; init; } = 0.1;
    /// <summary>λ_D and λ_U: weights of desirable and undesirable answers. With nD desirable and nU undesirable
    /// examples, λ_D·nD / (λ_U·nU) in [1, 4/3] is the paper's advice.</summary>
    public double DesirableWeight { get; init; } = 1.0;
    public double UndesirableWeight { get; init; } = 1.0;
}

public sealed record RewardModelConfig
{
    /// <summary>The Bradley–Terry loss is −log σ(r_chosen − r_rejected − margin): 0 is the plain loss; a
    /// margin keeps pushing pairs until the chosen score leads by it.</summary>
    public double Margin { get; init; }
}

public sealed record OptimizerConfig
{
    public double Lr { get; init; } = 2e-4;
    /// <summary>Decoupled weight decay (AdamW); never applied to norms, biases or 1-D adapter vectors.</summary>
    public double WeightDecay { get; init; } = 0.0;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    /// <summary>Clip the global gradient norm to this; null or 0: no clipping.</summary>
    public double? MaxGradNorm { get; init; } = 1.0;
}

public sealed record ScheduleConfig
{
    /// <summary>cosine, linear or constant (after warmup).</summary>
    public ScheduleType Type { get; init; } = ScheduleType.Cosine;
    public int WarmupSteps { get; init; }
    /// <summary>Warmup as a share of all steps; used when warmup_steps is 0.</summary>
    public double WarmupRatio { get; init; }
    /// <summary>The learning rate decays to lr · min_lr_ratio.</summary>
    public double MinLrRatio { get; init; }
}

public sealed record LoopConfig
{
    public int Epochs { get; init; } = 1;
    /// <summary>Stop after this many optimizer steps (overrides epochs when smaller).</summary>
    public int? MaxSteps { get; init; }
    /// <summary>Rows (or preference pairs) per forward/backward.</summary>
    public int MicroBatchSize { get; init; } = 8;
    public int GradientAccumulationSteps { get; init; } = 1;
    public int Seed { get; init; } = 42;
    /// <summary>bfloat16 autocast of the matmuls: auto (when the CPU has AVX-512 BF16 or AMX), true or false.</summary>
    public string Bf16 { get; init; } = "false";
    /// <summary>
    /// LM head + loss in row chunks, never holding a micro-batch's full logits (LinearCrossEntropy): true, false, or
    /// auto (when those logits would take over 512 MiB, e.g. a 128k vocabulary). Less memory, somewhat fewer tokens/s.
    /// </summary>
    public string ChunkedLoss { get; init; } = "auto";
    /// <summary>Recompute each layer's activations in backward instead of storing them.</summary>
    public bool GradientCheckpointing { get; init; }
    /// <summary>Intra-op threads for libtorch; null: all cores.</summary>
    public int? Threads { get; init; }
    /// <summary>Send a progress event every this many optimizer steps.</summary>
    public int LogEverySteps { get; init; } = 1;
}

public sealed record EvalConfig
{
    /// <summary>Evaluate on the validation split every this many steps (and at the end); 0: only at the end. Null:
    /// per_epoch when that is set, else 50.</summary>
    public int? EverySteps { get; init; }
    /// <summary>Evaluate this many times per epoch, so the interval follows the dataset's size (instead of
    /// every_steps).</summary>
    public int? PerEpoch { get; init; }
    /// <summary>Stop when validation loss has not improved by min_delta for this many evaluations; null:
    /// never.</summary>
    public int? EarlyStoppingPatience { get; init; }
    public double MinDelta { get; init; }
    /// <summary>Also evaluate before the first step, so the report shows where the base started.</summary>
    public bool OnStart { get; init; } = true;
    /// <summary>Evaluate at most this many batches of the validation split; null: all of it.</summary>
    public int? MaxBatches { get; init; }
    /// <summary>Evaluate on the first this many validation examples (the same ones every time); null: all of
    /// them.</summary>
    public int? MaxExamples { get; init; }
    /// <summary>At every evaluation, the model's greedy answers to the first this many validation prompts go into
    /// metrics.jsonl, the training report and the run's events; 0: none.</summary>
    public int SamplePrompts { get; init; } = 3;
    /// <summary>The longest sample answer, in tokens.</summary>
    public int SampleMaxNewTokens { get; init; } = 48;

    public const int DefaultEverySteps = 50;
}

public sealed record CheckpointConfig
{
    /// <summary>Write a resumable checkpoint every this many steps (and at the end); 0: only at the end. Null:
    /// per_epoch when that is set, else 100.</summary>
    public int? EverySteps { get; init; }
    /// <summary>Write this many checkpoints per epoch (instead of every_steps).</summary>
    public int? PerEpoch { get; init; }
    /// <summary>Keep this many newest checkpoints (the best one is kept besides).</summary>
    public int KeepLast { get; init; } = 2;

    public const int DefaultEverySteps = 100;
}

/// <summary>How often something happens, from every_steps or per_epoch: 0 means only at the end.</summary>
public static class StepInterval
{
    public static int Resolve(int? everySteps, int? perEpoch, int stepsPerEpoch, int fallback) =>
        everySteps ?? (perEpoch is { } n ? Math.Max(1, (int)Math.Ceiling(stepsPerEpoch / (double)n)) : fallback);
}
