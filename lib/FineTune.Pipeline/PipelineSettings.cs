// What a run does at each stage, as one JSON document (snake_case) that travels with the run as an artifact, so every
// service and a later audit see the same settings. Unknown keys are errors that name the key (docs/pipeline.md).
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Evals;
using FineTune.Evals.Gate;
using FineTune.Training;

namespace FineTune.Pipeline;

public sealed record TokenizeSettings
{
    /// <summary>Longest training sequence in tokens; null: the base model's context (max_position_embeddings), which a
    /// set value may not exceed (checked against the model before any stage runs).</summary>
    public int? MaxLength { get; init; }
    /// <summary>chatml, llama2, llama3, alpaca; null: the base model's own template (chatml when it has
    /// none).</summary>
    public string? ChatTemplate { get; init; }
    public bool TrainOnInputs { get; init; }
    /// <summary>right, left or drop: what happens to an example longer than max_length.</summary>
    public Truncation Truncation { get; init; } = Truncation.Right;
}

public sealed record EvaluationSettings
{
    /// <summary>Suites run for candidate and baseline: perplexity, rouge, bleu, chrf and task on the prepared test
    /// split; mmlu, gsm8k and gsm8k_cot on the evaluation sets named below; judge with the host's Judge
    /// settings.</summary>
    public IReadOnlyList<string> Suites { get; init; } = ["perplexity", "rouge", "task"];
    /// <summary>At most this many test examples per suite.</summary>
    public int Limit { get; init; } = 64;
    public int MaxNewTokens { get; init; } = 96;
    public int BatchSize { get; init; } = 8;
    /// <summary>The MMLU set and sample the mmlu suite scores (the forgetting guard).</summary>
    public MmluSetSettings? Mmlu { get; init; }
    /// <summary>The GSM8K set gsm8k and gsm8k_cot score.</summary>
    public Gsm8kSetSettings? Gsm8k { get; init; }
    /// <summary>The judge suite's rubric and mode; the endpoint, model and key are the host's (Judge
    /// section).</summary>
    public JudgeSettings? Judge { get; init; }
}

/// <summary>An evaluation set (`finetune evalsets add`) by name; version null: the newest.</summary>
public sealed record MmluSetSettings
{
    public string Set { get; init; } = "";
    public int? Version { get; init; }
    public int Shots { get; init; } = 5;
    /// <summary>A fixed sample of this many questions, a quarter per category, drawn with seed.</summary>
    public int Sample { get; init; } = 200;
    public int Seed { get; init; }
}

public sealed record Gsm8kSetSettings
{
    public string Set { get; init; } = "";
    public int? Version { get; init; }
    /// <summary>null: gsm8k's 5 (from the set's train.jsonl, 0 when it has none), gsm8k_cot's 8.</summary>
    public int? Shots { get; init; }
    /// <summary>The first N test problems.</summary>
    public int Limit { get; init; } = 50;
    /// <summary>Generation budget for a worked answer (evaluation.max_new_tokens is for the task's
    /// answers).</summary>
    public int MaxNewTokens { get; init; } = 256;
}

public sealed record JudgeSettings
{
    /// <summary>A rubric set (kind rubric); null: the judge's default rubric.</summary>
    public string? Rubric { get; init; }
    public int? RubricVersion { get; init; }
    /// <summary>true: candidate against the baseline's answers, asked in both orders (judge/win_rate, …); false:
    /// each model's answers graded on the rubric (judge/score).</summary>
    public bool Pairwise { get; init; } = true;
}

public enum RetrainingStart { Base, Production }

public enum RetrainingData { Cumulative, Incremental }

public sealed record RetrainingSettings
{
    /// <summary>A new file with fewer cleaned examples than this is kept (cumulative data) but starts no
    /// training.</summary>
    public int MinNewExamples { get; init; } = 1;
    /// <summary>No new training within this many minutes of the project's previous run.</summary>
    public double CooldownMinutes { get; init; }
    /// <summary>base: every run trains a fresh adapter over the base model. production: merge the production adapter
    /// into the base first and train on top of it.</summary>
    public RetrainingStart StartFrom { get; init; } = RetrainingStart.Base;
    /// <summary>cumulative: train on everything the project received; incremental: on the new file only.</summary>
    public RetrainingData Data { get; init; } = RetrainingData.Cumulative;
}

public sealed record PipelineSettings
{
    /// <summary>data prepare's options (docs/data-format.md): cleaning, de-duplication, splits, reject
    /// limits.</summary>
    public JsonObject Prepare { get; init; } = new();
    public TokenizeSettings Tokenize { get; init; } = new();
    /// <summary>A training config (docs/training-config.md) without base_model, data.path and output_dir, which the
    /// training stage fills in. What a settings file gives is laid over <see cref="DefaultTraining"/> key by key, and
    /// what neither says takes the training config's own defaults (TrainingConfig): one default per key.</summary>
    public JsonObject Training { get; init; } = DefaultTraining();
    public EvaluationSettings Evaluation { get; init; } = new();
    public IReadOnlyList<GateRule> Gate { get; init; } =
    [
        new("perplexity/token_accuracy", GateRuleKind.Improve, 0.01),
        new("rouge/rougeL", GateRuleKind.NoRegression, 0.05),
    ];
    public RetrainingSettings Retraining { get; init; } = new();
    public ReleaseSettings Release { get; init; } = new();

    /// <summary>What the pipeline sets where the training config's defaults (made for `finetune train` on a Hugging
    /// Face
    /// model) do not suit a run that starts from a small model and a few thousand examples: LoRA on every linear layer,
    /// a higher learning rate, three epochs, evaluations and checkpoints that follow the dataset's size. Rank, alpha,
    /// batch size and the rest are the training config's.</summary>
    public static JsonObject DefaultTraining() => new()
    {
        ["method"] = "lora",
        ["lora"] = new JsonObject { ["target_modules"] = new JsonArray("all-linear") },
        ["optimizer"] = new JsonObject { ["lr"] = 3e-3 },
        ["schedule"] = new JsonObject { ["type"] = "cosine", ["warmup_ratio"] = 0.05 },
        ["training"] = new JsonObject { ["epochs"] = 3 },
        // Intervals follow the dataset: two evaluations (on at most 256 validation examples) and two checkpoints an
        // epoch,
        // whether it has 200 examples or 20,000.
        ["eval"] = new JsonObject { ["per_epoch"] = 2, ["max_examples"] = 256 },
        ["checkpoint"] = new JsonObject { ["per_epoch"] = 2, ["keep_last"] = 2 },
    };

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
    };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Parses and validates; every problem names the file and the key.</summary>
    public static PipelineSettings Parse(string json, string source)
    {
        PipelineSettings settings;
        try
        {
            settings = JsonSerializer.Deserialize<PipelineSettings>(json, Json) ?? new PipelineSettings();
        }
        catch (JsonException e)
        {
            throw new InvalidPipelineSettingsException($"{source}: {Describe(e, json)}");
        }
        settings = settings with { Training = TrainingSections.Merge(DefaultTraining(), settings.Training) };
        settings.Validate(source);
        return settings;
    }

    /// <summary>A choice that is not one of its enum's names says which ones are (the serializer only says it could
    /// not convert); anything else keeps the serializer's message, which names the key.</summary>
    static string Describe(JsonException e, string json)
    {
        if (e.Path is not { Length: > 2 } path)
            return e.Message;
        Type? type = typeof(PipelineSettings);
        foreach (var part in path[2..].Split('.'))
            type = type?.GetProperties().FirstOrDefault(p
                => Json.PropertyNamingPolicy!.ConvertName(p.Name) == part)?.PropertyType;
        if (type is not { IsEnum: true })
            return e.Message;
        var value = JsonNode.Parse(json,
            documentOptions: new JsonDocumentOptions
            {
                CommentHandling = JsonCommentHandling.Skip,
                AllowTrailingCommas = true
            })
            ?.AsObject() is { } root ? Find(root, path[2..].Split('.')) : null;
        return $"'{path[2..]}' is {value?.ToJsonString() ?? "null"}; expected " +
            $"{string.Join(", ", ConfigNames.All(type))}.";
    }

    static JsonNode? Find(JsonNode node, string[] parts) =>
        parts.Aggregate((JsonNode?)node, (n, part) => n is JsonObject o ? o[part] : null);

    public static PipelineSettings Load(string path) =>
        File.Exists(path) ? Parse(File.ReadAllText(path), path)
            : throw new InvalidPipelineSettingsException($"pipeline config not found: '{path}'.");

    void Validate(string source)
    {
        string Bad(string key, object? value, string expected) =>
            $"{source}: '{key}' is {value ?? "null"}; expected {expected}.";
        if (Tokenize.MaxLength is < 8)
            throw new InvalidPipelineSettingsException(Bad("tokenize.max_length", Tokenize.MaxLength, "≥ 8"));
        foreach (var suite in Evaluation.Suites)
        {
            if (!EvalSuites.Names.Contains(suite))
                throw new InvalidPipelineSettingsException(Bad("evaluation.suites", suite,
                    string.Join(", ", EvalSuites.Names)));
            if (suite == "mmlu" && Evaluation.Mmlu is not { Set.Length: > 0 })
                throw new InvalidPipelineSettingsException($"{source}: suite mmlu needs 'evaluation.mmlu.set', the " +
                    "name of an MMLU evaluation set (finetune evalsets add NAME DIR --kind mmlu).");
            if (suite is "gsm8k" or "gsm8k_cot" && Evaluation.Gsm8k is not { Set.Length: > 0 })
                throw new InvalidPipelineSettingsException($"{source}: suite {suite} needs 'evaluation.gsm8k.set', " +
                    "the name of a GSM8K evaluation set (finetune evalsets add NAME DIR --kind gsm8k).");
        }
        if (Evaluation.Suites.Distinct().Count() != Evaluation.Suites.Count)
            throw new InvalidPipelineSettingsException($"{source}: 'evaluation.suites' names a suite twice.");
        if (Evaluation.Mmlu is { } mmlu && (mmlu.Shots is < 0 or > 5 || mmlu.Sample < 1))
            throw new InvalidPipelineSettingsException($"{source}: 'evaluation.mmlu' needs shots 0–5 and " +
                $"sample ≥ 1 (shots {mmlu.Shots}, sample {mmlu.Sample}).");
        if (Evaluation.Gsm8k is { } gsm8k && (gsm8k.Shots is < 0 || gsm8k.Limit < 1 || gsm8k.MaxNewTokens < 1))
            throw new InvalidPipelineSettingsException($"{source}: 'evaluation.gsm8k' needs shots ≥ 0, " +
                "limit ≥ 1 and max_new_tokens ≥ 1.");
        foreach (var (key, name) in new[] { ("evaluation.mmlu.set", Evaluation.Mmlu?.Set),
            ("evaluation.gsm8k.set", Evaluation.Gsm8k?.Set), ("evaluation.judge.rubric", Evaluation.Judge?.Rubric) })
            if (name is { Length: > 0 } && ResourceNames.Problem(name) is { } problem)
                throw new InvalidPipelineSettingsException(Bad(key, name, problem));
        if (Evaluation.Limit < 1)
            throw new InvalidPipelineSettingsException(Bad("evaluation.limit", Evaluation.Limit, "≥ 1"));
        if (Gate.Count == 0 || !Gate.Any(r => r.Kind == GateRuleKind.Improve))
            throw new InvalidPipelineSettingsException($"{source}: 'gate' needs at least one improve rule (the task " +
                $"metric).");
        if (Retraining.MinNewExamples < 0 || Retraining.CooldownMinutes < 0)
            throw new InvalidPipelineSettingsException($"{source}: retraining.min_new_examples and cooldown_minutes " +
                $"must be ≥ 0.");
        Release.Validate(source);
        _ = PrepareOptions(source);
        _ = TrainingConfig(source);
    }

    /// <summary>The training section as a checked training config (stand-ins for what the training stage fills in):
    /// a bad value is refused when the settings load, naming its key (training.lora.rank), before any stage
    /// runs. With training.stages, the last stage's: the one whose model becomes the model version.</summary>
    public TrainingConfig TrainingConfig(string source = "settings") => TrainingStageConfigs(source)[^1];

    /// <summary>Each training stage's checked config, in order (<see cref="TrainingStages"/>).</summary>
    public IReadOnlyList<TrainingConfig> TrainingStageConfigs(string source = "settings")
    {
        try
        {
            return TrainingStages.Check(Training, source);
        }
        catch (TrainingConfigException e)
        {
            throw new InvalidPipelineSettingsException(e.Message);
        }
    }

    /// <summary>
    /// The longest sequence a run of these settings trains on for a base model of <paramref name="modelContext"/>
    /// positions: tokenize.max_length, or the context when it is not set. A max_length beyond the context is refused:
    /// the model's positions were never trained that far, and evaluation could not run such prompts.
    /// </summary>
    public int MaxLengthFor(int modelContext, string source = "settings")
    {
        if (Tokenize.MaxLength is { } max && max > modelContext)
            throw new InvalidPipelineSettingsException($"{source}: 'tokenize.max_length' is {max}, longer than the " +
                $"base model's context of " +
                $"{modelContext} tokens (max_position_embeddings); leave it out to use the model's context, or set " +
                    $"at most {modelContext}.");
        return Tokenize.MaxLength ?? modelContext;
    }

    /// <summary>The prepare section as data prepare's options (validated by their own rules).</summary>
    public PrepareOptions PrepareOptions(string source = "settings")
    {
        try
        {
            return FineTune.Data.PrepareOptions.Parse(Prepare.ToJsonString(), $"{source}: prepare");
        }
        catch (InvalidDatasetException e)
        {
            throw new InvalidPipelineSettingsException(e.Message);
        }
    }
}

/// <summary>The pipeline settings are wrong: not retried, the run fails with this message.</summary>
public sealed class InvalidPipelineSettingsException(string message) : Exception(message);
