// What a run does at each stage, as one JSON document (snake_case) that travels with the run as an artifact, so every
// service and a later audit see the same settings. Unknown keys are errors that name the key (docs/pipeline.md).
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FineTune.Data;
using FineTune.Data.Tokenization;
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
    /// <summary>Suites run on the prepared test split for candidate and baseline: perplexity, rouge, task.</summary>
    public IReadOnlyList<string> Suites { get; init; } = ["perplexity", "rouge", "task"];
    /// <summary>At most this many test examples per suite.</summary>
    public int Limit { get; init; } = 64;
    public int MaxNewTokens { get; init; } = 96;
    public int BatchSize { get; init; } = 8;
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
            if (suite is not ("perplexity" or "rouge" or "bleu" or "chrf" or "task"))
                throw new InvalidPipelineSettingsException(Bad("evaluation.suites", suite,
                    "perplexity, rouge, bleu, chrf or task (the suites that need no external data)"));
        if (Evaluation.Limit < 1)
            throw new InvalidPipelineSettingsException(Bad("evaluation.limit", Evaluation.Limit, "≥ 1"));
        if (Gate.Count == 0 || !Gate.Any(r => r.Kind == GateRuleKind.Improve))
            throw new InvalidPipelineSettingsException($"{source}: 'gate' needs at least one improve rule (the task " +
                $"metric).");
        if (Retraining.MinNewExamples < 0 || Retraining.CooldownMinutes < 0)
            throw new InvalidPipelineSettingsException($"{source}: retraining.min_new_examples and cooldown_minutes " +
                $"must be ≥ 0.");
        _ = PrepareOptions(source);
        _ = TrainingConfig(source);
    }

    /// <summary>The training section as a checked training config (stand-ins for what the training stage fills in):
    /// a bad value is refused when the settings load, naming its key (training.lora.rank), before any stage
    /// runs.</summary>
    public TrainingConfig TrainingConfig(string source = "settings")
    {
        try
        {
            return TrainingConfigLoader.ParseSection(Training, source, "training.");
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
