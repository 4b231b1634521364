// LoRA (Hu et al. 2021) as a linear layer: y = x Wᵀ + b + s · (x Aᵀ) Bᵀ with the base W frozen, A (r, in) initialised
// like nn.Linear, B (out, r) at zero so training starts from the base model, s = α/r (or α/√r, rsLoRA). Parameter
// names follow PEFT (…q_proj.weight for the base, …q_proj.lora_A.weight, …q_proj.lora_B.weight), so the base
// checkpoint loads unchanged and the adapter exports as a prefix rewrite.
namespace FineTune.Torch;

/// <summary>Which projections get adapters and how: rank, alpha, dropout, rsLoRA scaling.</summary>
/// <param name="QuantizeBase">QLoRA: keep the adapted layers' frozen base weights in NF4 (see Nf4Tensor)</param>
public sealed record LoraSettings(int Rank, double Alpha, IReadOnlyList<string> TargetModules, double Dropout = 0, bool UseRslora = false,
    bool QuantizeBase = false)
{
    public static readonly string[] AllLinear = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public double Scaling => UseRslora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    public bool Targets(string module) => TargetModules.Contains("all-linear") ? AllLinear.Contains(module) : TargetModules.Contains(module);

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentOutOfRangeException(nameof(Rank), Rank, "lora rank must be positive.");
        if (Alpha <= 0) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "lora alpha must be positive.");
        if (Dropout is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(Dropout), Dropout, "lora dropout must be in [0, 1).");
        foreach (var m in TargetModules)
            if (m != "all-linear" && !AllLinear.Contains(m))
                throw new ArgumentException($"lora target module '{m}' matches nothing (expected {string.Join(", ", AllLinear)} or all-linear).", nameof(TargetModules));
    }
}

public sealed class LoraLinear : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    Nf4Tensor? _nf4;    // QLoRA: the frozen base in NF4; `weight` is then an empty placeholder
    readonly Parameter? bias;
    readonly Linear lora_A, lora_B;
    readonly Dropout? _dropout;
    readonly double _scaling;

    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, int rank, double scaling, double dropout) : base(nameof(LoraLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures), requires_grad: false);
        bias = hasBias ? new Parameter(zeros(outFeatures), requires_grad: false) : null;
        lora_A = nn.Linear(inFeatures, rank, hasBias: false);   // Kaiming-uniform, as nn.Linear and PEFT
        lora_B = nn.Linear(rank, outFeatures, hasBias: false);
        using (no_grad()) lora_B.weight!.zero_();                // ΔW = B·A starts at zero
        _dropout = dropout > 0 ? nn.Dropout(dropout) : null;
        _scaling = scaling;
        RegisterComponents();
    }

    public IEnumerable<(string Name, Parameter Parameter)> AdapterParameters() =>
        [("lora_A.weight", lora_A.weight!), ("lora_B.weight", lora_B.weight!)];

    /// <summary>When false the layer computes its base alone: DPO's reference policy without a second model copy.</summary>
    public bool AdaptersEnabled { get; set; } = true;

    /// <summary>The NF4 base after <see cref="QuantizeBase"/>, else null.</summary>
    public Nf4Tensor? QuantizedBase => _nf4;

    /// <summary>Bytes the frozen base weight occupies: NF4 storage after <see cref="QuantizeBase"/>, else its tensor.</summary>
    public long BaseWeightBytes => _nf4?.StorageBytes ?? weight.NumberOfElements * weight.ElementSize;

    /// <summary>QLoRA: moves the (loaded) base weight into NF4 and frees the full-precision copy.</summary>
    public void QuantizeBase()
    {
        if (_nf4 is not null) return;
        using (var scope = NewDisposeScope())
            _nf4 = Nf4Tensor.Quantize(weight.detach().to(ScalarType.Float32).contiguous().data<float>().ToArray(), weight.shape);
        // Swap the parameter's storage for an empty one: the full-precision copy is freed, the name stays registered.
        using (no_grad()) weight.set_(empty(0, dtype: weight.dtype));
    }

    public override Tensor forward(Tensor x)
    {
        // The NF4 base is dequantized for each call (forward and, through autograd, backward use that tensor) and
        // dropped with the step's dispose scope: only the 4-bit codes stay resident.
        var y = _nf4 is null ? nn.functional.linear(x, weight, bias) : nn.functional.linear(x, _nf4.ToTensor(x.dtype), bias);
        if (!AdaptersEnabled) return y;
        var h = _dropout is null ? x : _dropout.forward(x);
        return y + lora_B.forward(lora_A.forward(h)) * _scaling;
    }
}
