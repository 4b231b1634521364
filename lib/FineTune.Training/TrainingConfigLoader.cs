// Reads a training config: JSON with snake_case keys, `--set key.sub=value` overrides applied before binding, every
// key checked against the config records (an unknown key is an error that names it and lists the known ones), then
// values checked (rank 0, lr <= 0, a target module that matches nothing, ...), each error naming its key.
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FineTune.Torch;

namespace FineTune.Training;

public sealed class TrainingConfigException(string message) : Exception(message);

public static class TrainingConfigLoader
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        WriteIndented = true,
    };

    public static TrainingConfig Load(string path, IEnumerable<string>? overrides = null)
    {
        if (!File.Exists(path))
            throw new TrainingConfigException($"training config '{path}' not found.");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path),
                documentOptions: new JsonDocumentOptions
                {
                    CommentHandling = JsonCommentHandling.Skip,
                    AllowTrailingCommas = true
                });
        }
        catch (JsonException e)
        {
            throw new TrainingConfigException($"{path}: not valid JSON ({e.Message}).");
        }
        if (root is not JsonObject obj)
            throw new TrainingConfigException($"{path}: expected a JSON object at the top level.");
        return Parse(obj, path, overrides);
    }

    public static TrainingConfig Parse(JsonObject root, string source, IEnumerable<string>? overrides = null) =>
        Parse(root, source, overrides, keyPrefix: "");

    /// <summary>
    /// Checks a pipeline settings file's <c>training</c> section when the settings load, before any stage runs: the
    /// same
    /// keys and rules as a training config, with errors naming the key as <c>training.lora.rank</c>. base_model,
    /// data.path
    /// and output_dir are the training stage's to fill in, so stand-ins are used for them here.
    /// </summary>
    public static TrainingConfig ParseSection(JsonObject section, string source, string keyPrefix)
    {
        var root = (JsonObject)section.DeepClone();
        root["base_model"] ??= "(the run's base model)";
        root["output_dir"] ??= "(the run's output)";
        if (root["data"] is null)
            root["data"] = new JsonObject();
        if (root["data"] is JsonObject data)
            data["path"] ??= "(the run's tokenized data)";
        return Parse(root, source, null, keyPrefix);
    }

    static TrainingConfig Parse(JsonObject root, string source, IEnumerable<string>? overrides, string keyPrefix)
    {
        foreach (var item in overrides ?? [])
            ApplyOverride(root, item);
        CheckKeys(root, typeof(TrainingConfig), keyPrefix, source);
        TrainingConfig config;
        try
        {
            config = root.Deserialize<TrainingConfig>(Json)
                ?? throw new TrainingConfigException($"{source}: empty config.");
        }
        catch (JsonException e)
        {
            var key = keyPrefix + (e.Path ?? "$").TrimStart('$', '.');
            throw new TrainingConfigException($"{source}: key '{key}' has a value of the wrong type " +
                $"({e.Message.Split(" Path:")[0]}).");
        }
        Validate(config, source, keyPrefix);
        return config;
    }

    public static string ToJson(TrainingConfig config) => JsonSerializer.Serialize(config, Json);

    // "lora.rank=16": the value is read as JSON when it parses (numbers, booleans, arrays, null), else as a string.
    static void ApplyOverride(JsonObject root, string item)
    {
        int eq = item.IndexOf('=');
        if (eq <= 0)
            throw new TrainingConfigException($"--set '{item}': expected key=value, e.g. lora.rank=16.");
        var parts = item[..eq].Trim().Split('.');
        var text = item[(eq + 1)..];
        JsonNode? value;
        try
        {
            value = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            value = JsonValue.Create(text);
        }
        var node = root;
        foreach (var part in parts[..^1])
        {
            if (node[part] is not JsonObject child)
                node[part] = child = [];
            node = child;
        }
        node[parts[^1]] = value;
    }

    /// <summary>The keys a section takes: its settable properties, less those the config does not read
    /// (JsonIgnore).</summary>
    static Dictionary<string, PropertyInfo> Keys(Type type)
        => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.CanWrite && p.GetCustomAttribute<JsonIgnoreAttribute>() is null)
        .ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name));

    static void CheckKeys(JsonObject obj, Type type, string prefix, string source)
    {
        var properties = Keys(type);
        foreach (var (key, value) in obj)
        {
            var path = prefix + key;
            if (!properties.TryGetValue(key, out var property))
                throw new TrainingConfigException($"{source}: unknown key '{path}' (known " +
                    $"keys{(prefix == "" ? "" : $" in '{prefix.TrimEnd('.')}'")}: " +
                    $"{string.Join(", ", properties.Keys)}).");
            bool isSection = property.PropertyType.IsClass && property.PropertyType != typeof(string)
                && !property.PropertyType.IsGenericType;
            if (isSection && value is JsonObject child)
                CheckKeys(child, property.PropertyType, path + ".", source);
            else if (property.PropertyType.IsGenericType
                && property.PropertyType.GetGenericArguments() is [{ IsClass: true } item] && item != typeof(string)
                && value is JsonArray list)
                for (int i = 0; i < list.Count; i++)
                    if (list[i] is JsonObject element)
                        CheckKeys(element, item, $"{path}[{i}].", source);
                    else
                        throw new TrainingConfigException($"{source}: key '{path}[{i}]' must be an object with " +
                            $"keys {string.Join(", ", Keys(item).Keys)}.");
            else if (isSection && value is not null)
                throw new TrainingConfigException($"{source}: key '{path}' is a section: expected an object with " +
                    $"keys {string.Join(", ", Keys(property.PropertyType).Keys)}.");
            else if ((Nullable.GetUnderlyingType(property.PropertyType)
                ?? property.PropertyType) is { IsEnum: true } choices
                && value is JsonValue v && v.TryGetValue<string>(out var text) && !ConfigNames.TryParse(choices, text,
                    out _))
                throw new TrainingConfigException($"{source}: key '{path}' must be one of " +
                    $"{string.Join(", ", ConfigNames.All(choices))}, got '{text}'.");
        }
    }

    static void Validate(TrainingConfig c, string source, string keyPrefix)
    {
        void Require(bool ok, string key, string expected)
        {
            if (!ok)
                throw new TrainingConfigException($"{source}: key '{keyPrefix}{key}' {expected}.");
        }
        Require(!string.IsNullOrWhiteSpace(c.BaseModel), "base_model",
            "is required (a Hugging Face model directory or llama2.c .bin)");
        Require(!string.IsNullOrWhiteSpace(c.Data.Path), "data.path",
            "is required (a tokenized dataset directory from `finetune data tokenize`)");
        Require(!string.IsNullOrWhiteSpace(c.OutputDir), "output_dir", "is required");
        Require(c.Data.MaxLength is null or >= 2, "data.max_length",
            $"must be at least 2 tokens, got {c.Data.MaxLength}");
        Require(c.Optimizer.Lr > 0 && double.IsFinite(c.Optimizer.Lr), "optimizer.lr",
            $"must be positive, got {c.Optimizer.Lr}");
        Require(c.Optimizer.WeightDecay >= 0, "optimizer.weight_decay", $"must be >= 0, got {c.Optimizer.WeightDecay}");
        Require(c.Optimizer.Beta1 is >= 0 and < 1, "optimizer.beta1", $"must be in [0, 1), got {c.Optimizer.Beta1}");
        Require(c.Optimizer.Beta2 is >= 0 and < 1, "optimizer.beta2", $"must be in [0, 1), got {c.Optimizer.Beta2}");
        Require(c.Optimizer.Eps > 0, "optimizer.eps", $"must be positive, got {c.Optimizer.Eps}");
        Require(c.Optimizer.MaxGradNorm is null or >= 0, "optimizer.max_grad_norm",
            $"must be >= 0, got {c.Optimizer.MaxGradNorm}");
        Require(c.Schedule.WarmupSteps >= 0, "schedule.warmup_steps", $"must be >= 0, got {c.Schedule.WarmupSteps}");
        Require(c.Schedule.WarmupRatio is >= 0 and < 1, "schedule.warmup_ratio",
            $"must be in [0, 1), got {c.Schedule.WarmupRatio}");
        Require(c.Schedule.MinLrRatio is >= 0 and <= 1, "schedule.min_lr_ratio",
            $"must be in [0, 1], got {c.Schedule.MinLrRatio}");
        Require(c.Training.Epochs > 0, "training.epochs", $"must be a positive integer, got {c.Training.Epochs}");
        Require(c.Training.MaxSteps is null or > 0, "training.max_steps",
            $"must be a positive integer, got {c.Training.MaxSteps}");
        Require(c.Training.MicroBatchSize > 0, "training.micro_batch_size",
            $"must be a positive integer, got {c.Training.MicroBatchSize}");
        Require(c.Training.GradientAccumulationSteps > 0, "training.gradient_accumulation_steps",
            $"must be a positive integer, got {c.Training.GradientAccumulationSteps}");
        Require(c.Training.Bf16 is "auto" or "true" or "false", "training.bf16",
            $"must be auto, true or false, got '{c.Training.Bf16}'");
        Require(c.Training.ChunkedLoss is "auto" or "true" or "false", "training.chunked_loss",
            $"must be auto, true or false, got '{c.Training.ChunkedLoss}'");
        Require(c.Training.Threads is null or > 0, "training.threads",
            $"must be a positive integer, got {c.Training.Threads}");
        Require(c.Training.LogEverySteps > 0, "training.log_every_steps",
            $"must be a positive integer, got {c.Training.LogEverySteps}");
        Require(c.Eval.EverySteps is null or >= 0, "eval.every_steps", $"must be >= 0, got {c.Eval.EverySteps}");
        Require(c.Eval.PerEpoch is null or > 0, "eval.per_epoch", $"must be a positive integer, got {c.Eval.PerEpoch}");
        Require(c.Eval.EverySteps is null || c.Eval.PerEpoch is null, "eval.per_epoch",
            "cannot be combined with eval.every_steps; set one");
        Require(c.Eval.MaxExamples is null or > 0, "eval.max_examples",
            $"must be a positive integer, got {c.Eval.MaxExamples}");
        Require(c.Eval.SamplePrompts is >= 0 and <= 32, "eval.sample_prompts",
            $"must be 0–32, got {c.Eval.SamplePrompts}");
        Require(c.Eval.SampleMaxNewTokens > 0, "eval.sample_max_new_tokens",
            $"must be a positive integer, got {c.Eval.SampleMaxNewTokens}");
        Require(c.Eval.EarlyStoppingPatience is null or > 0, "eval.early_stopping_patience",
            $"must be a positive integer, got {c.Eval.EarlyStoppingPatience}");
        Require(c.Eval.MaxBatches is null or > 0, "eval.max_batches",
            $"must be a positive integer, got {c.Eval.MaxBatches}");
        Require(c.Checkpoint.EverySteps is null or >= 0, "checkpoint.every_steps",
            $"must be >= 0, got {c.Checkpoint.EverySteps}");
        Require(c.Checkpoint.PerEpoch is null or > 0, "checkpoint.per_epoch",
            $"must be a positive integer, got {c.Checkpoint.PerEpoch}");
        Require(c.Checkpoint.EverySteps is null || c.Checkpoint.PerEpoch is null, "checkpoint.per_epoch",
            "cannot be combined with checkpoint.every_steps; set one");
        Require(c.Checkpoint.KeepLast > 0, "checkpoint.keep_last",
            $"must be a positive integer, got {c.Checkpoint.KeepLast}");
        Require(c.Dpo.Beta > 0, "dpo.beta", $"must be positive, got {c.Dpo.Beta}");
        Require(c.Kto.Beta > 0 && double.IsFinite(c.Kto.Beta), "kto.beta", $"must be positive, got {c.Kto.Beta}");
        Require(c.Kto.DesirableWeight > 0, "kto.desirable_weight", $"must be positive, got {c.Kto.DesirableWeight}");
        Require(c.Kto.UndesirableWeight > 0, "kto.undesirable_weight",
            $"must be positive, got {c.Kto.UndesirableWeight}");
        Require(c.Objective != TrainingObjective.Kto || c.Training.MicroBatchSize >= 2, "training.micro_batch_size",
            "must be at least 2 for kto (its KL term pairs each prompt with another example's answer)");
        ValidateGrpo(c.Grpo, c.Objective == TrainingObjective.Grpo, Require);
        ValidatePpo(c.Ppo, c.Objective == TrainingObjective.Ppo, c.Training.MicroBatchSize
            * c.Training.GradientAccumulationSteps, Require);
        Require(c.RewardModel.Margin >= 0 && double.IsFinite(c.RewardModel.Margin), "reward_model.margin",
            $"must be >= 0, got {c.RewardModel.Margin}");
        Require(c.Objective != TrainingObjective.RewardModel
            || c.Method is TrainingMethod.Full or TrainingMethod.Lora or TrainingMethod.Dora or TrainingMethod.Qlora,
            "method", $"'{ConfigNames.Of(c.Method)}' cannot train a reward model (its score head is a new layer): " +
            "use full, lora, dora or qlora");
        Require(c.Method != TrainingMethod.PrefixTuning || !c.Training.GradientCheckpointing,
            "training.gradient_checkpointing",
            "cannot be combined with prefix_tuning (as in PEFT); switch one off");
        try
        {
            Adapter(c)?.Validate();
        }
        catch (ArgumentException e)
        {
            throw new TrainingConfigException($"{source}: {keyPrefix}{e.Message.Split(" (Parameter")[0]}");
        }
    }

    static readonly string[] RewardTypes =
        ["json_valid", "schema_valid", "field_match", "gsm8k", "regex", "length", "reward_model", "custom"];

    static void ValidatePpo(PpoConfig p, bool used, int rollouts, Action<bool, string, string> require)
    {
        ValidateSampling("ppo", p.MaxNewTokens, p.Temperature, p.TopP, p.TopK, require);
        require(p.KlCoef >= 0 && double.IsFinite(p.KlCoef), "ppo.kl_coef", $"must be >= 0, got {p.KlCoef}");
        require(p.TargetKl is null or > 0, "ppo.target_kl", $"must be positive, got {p.TargetKl}");
        require(p.KlHorizon > 0, "ppo.kl_horizon", $"must be positive, got {p.KlHorizon}");
        require(p.Gamma is >= 0 and <= 1, "ppo.gamma", $"must be in [0, 1], got {p.Gamma}");
        require(p.Lam is >= 0 and <= 1, "ppo.lam", $"must be in [0, 1], got {p.Lam}");
        require(p.ClipRange is > 0 and < 1, "ppo.clip_range", $"must be in (0, 1), got {p.ClipRange}");
        require(p.ClipRangeValue > 0, "ppo.clip_range_value", $"must be positive, got {p.ClipRangeValue}");
        require(p.VfCoef >= 0, "ppo.vf_coef", $"must be >= 0, got {p.VfCoef}");
        require(p.PpoEpochs > 0, "ppo.ppo_epochs", $"must be a positive integer, got {p.PpoEpochs}");
        require(p.NumMiniBatches > 0 && (!used || p.NumMiniBatches <= rollouts), "ppo.num_mini_batches",
            $"must be between 1 and the rollouts of a step (micro_batch_size × gradient_accumulation_steps = " +
            $"{rollouts}), got {p.NumMiniBatches}");
        require(!used || p.Rewards.Count > 0, "ppo.rewards",
            "needs at least one reward (e.g. [{\"type\": \"reward_model\", \"model\": \"runs/rm/model\"}])");
        ValidateRewards(p.Rewards, "ppo", require);
    }

    static void ValidateGrpo(GrpoConfig g, bool used, Action<bool, string, string> require)
    {
        require(g.NumGenerations >= 2, "grpo.num_generations",
            $"must be at least 2 (advantages compare completions of one prompt), got {g.NumGenerations}");
        ValidateSampling("grpo", g.MaxNewTokens, g.Temperature, g.TopP, g.TopK, require);
        require(g.Beta >= 0 && double.IsFinite(g.Beta), "grpo.beta", $"must be >= 0, got {g.Beta}");
        require(g.Epsilon is > 0 and < 1, "grpo.epsilon", $"must be in (0, 1), got {g.Epsilon}");
        require(g.EpsilonHigh is null or > 0, "grpo.epsilon_high", $"must be positive, got {g.EpsilonHigh}");
        require(g.NumIterations is >= 1 and <= 16, "grpo.num_iterations",
            $"must be between 1 and 16 (optimisation passes over each step's completions), got {g.NumIterations}");
        require(!used || g.Rewards.Count > 0, "grpo.rewards",
            "needs at least one reward function (e.g. [{\"type\": \"json_valid\"}])");
        ValidateRewards(g.Rewards, "grpo", require);
    }

    // The sampling of the recipes that learn from their own answers: temperature > 0, since a greedy policy samples
    // one answer only.
    static void ValidateSampling(string section, int maxNewTokens, double temperature, double topP, int topK,
        Action<bool, string, string> require)
    {
        require(maxNewTokens > 0, section + ".max_new_tokens", $"must be a positive integer, got {maxNewTokens}");
        require(temperature > 0 && double.IsFinite(temperature), section + ".temperature",
            $"must be positive (the recipe learns from different samples), got {temperature}");
        require(topP is > 0 and <= 1, section + ".top_p", $"must be in (0, 1], got {topP}");
        require(topK >= 0, section + ".top_k", $"must be >= 0, got {topK}");
    }

    static void ValidateRewards(IReadOnlyList<RewardSpec> rewards, string section,
        Action<bool, string, string> require)
    {
        for (int i = 0; i < rewards.Count; i++)
        {
            var r = rewards[i];
            var key = $"{section}.rewards[{i}]";
            require(RewardTypes.Contains(r.Type), key + ".type",
                $"must be one of {string.Join(", ", RewardTypes)}, got '{r.Type}'");
            require(double.IsFinite(r.Weight), key + ".weight", $"must be a finite number, got {r.Weight}");
            require(r.Type != "custom" || !string.IsNullOrWhiteSpace(r.Name), key + ".name",
                "is required for a custom reward (the IRewardFunction's Name)");
            require(r.Type != "regex" || Rewards.RegexReward.Check(r.Pattern) is null, key + ".pattern",
                Rewards.RegexReward.Check(r.Pattern) ?? "");
            require(r.Type != "length" || r.Target is > 0, key + ".target",
                "is required for a length reward: the token count beyond which completions pay");
            require(r.Type != "reward_model" || !string.IsNullOrWhiteSpace(r.Model), key + ".model",
                "is required for a reward_model reward (a model trained with objective reward_model)");
        }
    }

    /// <summary>The PEFT settings the method implies, or null for full fine-tuning.</summary>
    public static PeftSettings? Adapter(TrainingConfig c) => c.Method switch
    {
        TrainingMethod.Full => null,
        TrainingMethod.Lora => c.Lora with { QuantizeBase = false, UseDora = false },
        TrainingMethod.Dora => c.Lora with { QuantizeBase = false, UseDora = true },
        TrainingMethod.Qlora => c.Lora with { QuantizeBase = true, UseDora = false },
        TrainingMethod.Ia3 => c.Ia3,
        TrainingMethod.PromptTuning => c.Prompt with { Prefix = false },
        TrainingMethod.PrefixTuning => c.Prompt with { Prefix = true },
        _ => throw new TrainingConfigException($"unknown method '{c.Method}'."),
    };
}
