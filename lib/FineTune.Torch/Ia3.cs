// IA³ (Liu et al. 2022, "Few-shot parameter-efficient fine-tuning is better and cheaper than in-context learning"):
// a frozen linear layer whose output is rescaled by a learned vector l (out, 1) — or, for feed-forward modules, whose
// input is (1, in) — initialised to ones so training starts from the base. Named as PEFT saves it: …k_proj.ia3_l.
namespace FineTune.Torch;

public sealed class Ia3Linear : nn.Module<Tensor, Tensor>, ILinearLayer
{
    readonly Parameter weight;
    readonly Parameter? bias;
    readonly Parameter ia3_l;
    readonly bool _feedforward;

    public Ia3Linear(long inFeatures, long outFeatures, bool hasBias, bool feedforward) : base(nameof(Ia3Linear))
    {
        weight = new Parameter(empty(outFeatures, inFeatures), requires_grad: false);
        bias = hasBias ? new Parameter(zeros(outFeatures), requires_grad: false) : null;
        ia3_l = new Parameter(feedforward ? ones(1, inFeatures) : ones(outFeatures, 1));
        _feedforward = feedforward;
        RegisterComponents();
    }

    public bool IsFeedforward => _feedforward;

    public Parameter Vector => ia3_l;

    public bool AdaptersEnabled { get; set; } = true;

    public ScalarType? ComputeDtype { get; set; }

    public override Tensor forward(Tensor x)
    {
        var dtype = ComputeDtype ?? x.dtype;
        var l = ia3_l.flatten().to(dtype);
        var xc = x.to(dtype);
        if (!AdaptersEnabled)
            return nn.functional.linear(xc, weight.to(dtype), bias?.to(dtype)).to(x.dtype);
        // Feed-forward: scale the input features; otherwise the output features (bias included, as PEFT).
        return (_feedforward
            ? nn.functional.linear(xc * l, weight.to(dtype), bias?.to(dtype))
            : nn.functional.linear(xc, weight.to(dtype), bias?.to(dtype)) * l
        ).to(x.dtype);
    }
}
