// LoRA (Hu et al. 2021) as a linear layer: y = x Wᵀ + b + s · (x Aᵀ) Bᵀ with the base W frozen, A (r, in) initialised
// like nn.Linear, B (out, r) at zero so training starts from the base model, s = α/r (or α/√r, rsLoRA). DoRA (Liu et
// al. 2024) adds a magnitude m per output row: W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖_row, the norm treated as a constant
// in backward (the paper's §4.3, as PEFT). Parameter names follow PEFT (…q_proj.weight for the base,
// …q_proj.lora_A.weight, …q_proj.lora_B.weight, …q_proj.lora_magnitude_vector), so the base checkpoint loads
// unchanged and the adapter exports as a prefix rewrite.
namespace FineTune.Torch;

public sealed class LoraLinear : nn.Module<Tensor, Tensor>, ILinearLayer
{
    readonly Parameter weight;
    Nf4Tensor? _nf4;    // QLoRA: the frozen base in NF4; `weight` is then an empty placeholder
    readonly Parameter? bias;
    readonly Linear lora_A, lora_B;
    readonly Parameter? lora_magnitude_vector;   // DoRA only: (out,)
    readonly Dropout? _dropout;
    readonly double _scaling;

    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, int rank, double scaling, double dropout,
        bool useDora = false)
        : base(nameof(LoraLinear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures), requires_grad: false);
        bias = hasBias ? new Parameter(zeros(outFeatures), requires_grad: false) : null;
        lora_A = nn.Linear(inFeatures, rank, hasBias: false);   // Kaiming-uniform, as nn.Linear and PEFT
        lora_B = nn.Linear(rank, outFeatures, hasBias: false);
        using (NewDisposeScope())
        // ΔW = B·A starts at zero
        using (no_grad())
            lora_B.weight!.zero_();
        // set to ‖W‖_row once W is loaded
        if (useDora)
            lora_magnitude_vector = new Parameter(ones(outFeatures));
        _dropout = dropout > 0 ? nn.Dropout(dropout) : null;
        _scaling = scaling;
        RegisterComponents();
    }

    public IEnumerable<(string Name, Parameter Parameter)> AdapterParameters() =>
        lora_magnitude_vector is null
            ? [("lora_A.weight", lora_A.weight!), ("lora_B.weight", lora_B.weight!)]
            : [("lora_A.weight", lora_A.weight!), ("lora_B.weight", lora_B.weight!),
                ("lora_magnitude_vector", lora_magnitude_vector)];

    /// <summary>When false the layer computes its base alone: DPO's reference policy without a second model
    /// copy.</summary>
    public bool AdaptersEnabled { get; set; } = true;

    /// <summary>Matmuls run in this dtype (bfloat16 autocast) when set; parameters and outputs keep theirs.</summary>
    public ScalarType? ComputeDtype { get; set; }

    public bool UsesDora => lora_magnitude_vector is not null;

    /// <summary>The NF4 base after <see cref="QuantizeBase"/>, else null.</summary>
    public Nf4Tensor? QuantizedBase => _nf4;

    /// <summary>Bytes the frozen base weight occupies: NF4 storage after <see cref="QuantizeBase"/>, else its
    /// tensor.</summary>
    public long BaseWeightBytes => _nf4?.StorageBytes ?? weight.NumberOfElements * weight.ElementSize;

    /// <summary>DoRA: the magnitude starts at the row norms of the loaded base (so the layer starts as the
    /// base).</summary>
    public void InitializeMagnitude()
    {
        if (lora_magnitude_vector is null)
            return;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        lora_magnitude_vector.copy_(DirectionNorm(BaseWeight(ScalarType.Float32)).to(lora_magnitude_vector.dtype));
    }

    /// <summary>QLoRA: moves the (loaded) base weight into NF4 and frees the full-precision copy.</summary>
    public void QuantizeBase()
    {
        if (_nf4 is not null)
            return;
        _nf4 = Nf4Tensor.Quantize(weight.ToFloat32Array(), weight.shape);
        // Swap the parameter's storage for an empty one: the full-precision copy is freed, the name stays registered.
        using var scope = NewDisposeScope();
        using (no_grad())
            weight.set_(empty(0, dtype: weight.dtype));
    }

    // The NF4 base is dequantized for each call (forward and, through autograd, backward use that tensor) and
    // dropped with the step's dispose scope: only the 4-bit codes stay resident.
    Tensor BaseWeight(ScalarType dtype) => _nf4 is null ? weight.to(dtype) : _nf4.ToTensor(dtype);

    // ‖W + s·B·A‖ per output row, detached: (out,)
    Tensor DirectionNorm(Tensor baseWeight)
    {
        using var _ = no_grad();
        var delta = matmul(lora_B.weight!, lora_A.weight!).to(baseWeight.dtype).Times(_scaling);   // (out, in)
        var w = baseWeight.Plus(delta).to(ScalarType.Float32);
        return (w * w).sum(1).sqrt();
    }

    /// <summary>The weight this layer applies, in float32 and detached: W + s·B·A (DoRA: m ⊙ (W + s·B·A) /
    /// ‖W + s·B·A‖_row; QLoRA: the NF4 base dequantized). What a merged copy of the model holds.</summary>
    public Tensor MergedWeight()
    {
        using var _ = no_grad();
        var w = BaseWeight(ScalarType.Float32);
        if (!AdaptersEnabled)
            return w.clone();
        var merged = w.Plus(matmul(lora_B.weight!, lora_A.weight!).to(ScalarType.Float32).Times(_scaling));
        return lora_magnitude_vector is null ? merged
            : merged * (lora_magnitude_vector.to(ScalarType.Float32) / DirectionNorm(w)).unsqueeze(1);
    }

    /// <summary>The bias, if the layer has one.</summary>
    public Tensor? Bias => bias;

    public override Tensor forward(Tensor x)
    {
        var dtype = ComputeDtype ?? x.dtype;
        var xc = x.to(dtype);
        var w = BaseWeight(dtype);
        var baseOut = nn.functional.linear(xc, w);                                       // x Wᵀ, (…, out)
        var withBias = bias is null ? baseOut : baseOut.Plus(bias.to(dtype));
        if (!AdaptersEnabled)
            return withBias.to(x.dtype);
        var h = _dropout is null ? xc : _dropout.forward(xc);
        var update = nn.functional.linear(nn.functional.linear(h, lora_A.weight!.to(dtype)),
            lora_B.weight!.to(dtype)).Times(_scaling);
        if (lora_magnitude_vector is null)
            return withBias.Plus(update).to(x.dtype);

        // DoRA: y = b + x Wᵀ + (m/‖W'‖ - 1) ⊙ dropout(x) Wᵀ + m/‖W'‖ ⊙ s·B·A·dropout(x)
        var scale = (lora_magnitude_vector.to(ScalarType.Float32) / DirectionNorm(w)).to(dtype);   // (out,)
        var baseTerm = _dropout is null ? baseOut : nn.functional.linear(h, w);
        return withBias.Plus(scale.Plus(-1) * baseTerm).Plus(scale * update).to(x.dtype);
    }
}
