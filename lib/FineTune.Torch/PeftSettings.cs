// What a parameter-efficient method adapts and how, one record per PEFT method: LoRA (and DoRA, QLoRA), IA³, and
// prompt / prefix tuning. The model builds its adapted modules from these; each names its PEFT `peft_type`. The same
// records are the training config's `lora`, `ia3` and `prompt` sections (snake_case keys; the parameterless
// constructors hold the defaults); what the method implies (DoRA, QLoRA, prefix) is set from `method`, not a key.
using System.Text.Json.Serialization;

namespace FineTune.Torch;

public abstract record PeftSettings
{
    public static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
        "down_proj"];

    /// <summary>The `peft_type` PEFT writes for this method.</summary>
    [JsonIgnore] public abstract string PeftType { get; }

    public abstract void Validate();

    protected static void CheckModules(IEnumerable<string> modules, string key)
    {
        foreach (var m in modules)
            if (m != "all-linear" && !AllLinear.Contains(m))
                throw new ArgumentException($"{key}: target module '{m}' matches nothing (expected " +
                    $"{string.Join(", ", AllLinear)} or all-linear).", key);
    }

    protected static IReadOnlyList<string> Expand(IReadOnlyList<string> modules) =>
        modules.Contains("all-linear") ? AllLinear : modules;
}

/// <summary>LoRA on the targeted projections: rank, alpha, dropout, rsLoRA scaling; DoRA and QLoRA as
/// options.</summary>
/// <param name="UseDora">DoRA (Liu et al. 2024): a learned magnitude per output row over the LoRA-updated
/// direction</param>
/// <param name="QuantizeBase">QLoRA: keep the adapted layers' frozen base weights in NF4 (see Nf4Tensor)</param>
public sealed record LoraSettings(int Rank, double Alpha, IReadOnlyList<string> TargetModules, double Dropout = 0,
    bool UseRslora = false,
    bool QuantizeBase = false, bool UseDora = false) : PeftSettings
{
    /// <summary>The training config's defaults (the pipeline's too): rank 16, alpha 32 (scaling 2) on q_proj and
    /// v_proj.</summary>
    [JsonConstructor]
    public LoraSettings() : this(16, 32, ["q_proj", "v_proj"]) { }

    [JsonIgnore] public bool QuantizeBase { get; init; } = QuantizeBase;
    [JsonIgnore] public bool UseDora { get; init; } = UseDora;

    [JsonIgnore] public override string PeftType => "LORA";

    [JsonIgnore] public double Scaling => UseRslora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    [JsonIgnore] public IReadOnlyList<string> Modules => Expand(TargetModules);

    public bool Targets(string module) => Modules.Contains(module);

    public override void Validate()
    {
        if (Rank <= 0)
            throw new ArgumentOutOfRangeException("lora.rank", Rank, "lora.rank must be a positive integer.");
        if (Alpha <= 0)
            throw new ArgumentOutOfRangeException("lora.alpha", Alpha, "lora.alpha must be positive.");
        if (Dropout is < 0 or >= 1)
            throw new ArgumentOutOfRangeException("lora.dropout", Dropout, "lora.dropout must be in [0, 1).");
        if (TargetModules.Count == 0)
            throw new ArgumentException("lora.target_modules: name at least one module (or all-linear).",
                "lora.target_modules");
        CheckModules(TargetModules, "lora.target_modules");
    }
}

/// <summary>IA³ (Liu et al. 2022): learned vectors rescaling the outputs of the targeted projections, and the inputs of
/// the feed-forward ones.</summary>
public sealed record Ia3Settings(IReadOnlyList<string> TargetModules,
    IReadOnlyList<string> FeedforwardModules) : PeftSettings
{
    /// <summary>PEFT's defaults for Llama: k_proj, v_proj and down_proj, down_proj being feed-forward.</summary>
    public static readonly Ia3Settings LlamaDefaults = new();

    [JsonConstructor]
    public Ia3Settings() : this(["k_proj", "v_proj", "down_proj"], ["down_proj"]) { }

    [JsonIgnore] public override string PeftType => "IA3";

    [JsonIgnore] public IReadOnlyList<string> Modules => Expand(TargetModules);

    public bool Targets(string module) => Modules.Contains(module);

    public bool IsFeedforward(string module) => Expand(FeedforwardModules).Contains(module);

    public override void Validate()
    {
        if (TargetModules.Count == 0)
            throw new ArgumentException("ia3.target_modules: name at least one module (or all-linear).",
                "ia3.target_modules");
        CheckModules(TargetModules, "ia3.target_modules");
        CheckModules(FeedforwardModules, "ia3.feedforward_modules");
        foreach (var m in Expand(FeedforwardModules))
            if (!Modules.Contains(m))
                throw new ArgumentException($"ia3.feedforward_modules: '{m}' is not among the target modules (PEFT " +
                    $"requires a subset).", "ia3.feedforward_modules");
    }
}

/// <summary>
/// Prompt tuning (Lester et al. 2021: trainable virtual token embeddings before the input) or prefix tuning
/// (Li and Liang 2021: trainable keys and values before each layer's attention).
/// </summary>
public sealed record PromptSettings(int NumVirtualTokens, bool Prefix = false) : PeftSettings
{
    /// <summary>The training config's default: 20 virtual tokens.</summary>
    [JsonConstructor]
    public PromptSettings() : this(20) { }

    [JsonIgnore] public bool Prefix { get; init; } = Prefix;

    [JsonIgnore] public override string PeftType => Prefix ? "PREFIX_TUNING" : "PROMPT_TUNING";

    public override void Validate()
    {
        if (NumVirtualTokens <= 0)
            throw new ArgumentOutOfRangeException("prompt.num_virtual_tokens", NumVirtualTokens,
                "prompt.num_virtual_tokens must be a positive integer.");
    }
}
