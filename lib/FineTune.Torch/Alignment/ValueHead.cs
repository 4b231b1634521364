// PPO's critic: a linear map from the policy's final hidden state to a scalar value (TRL's ValueHead), sharing the
// policy's backbone (adapters on). Its parameters are v_head.weight (1, C) and v_head.bias (1), trained with the
// policy; they are not part of the delivered adapter.
namespace FineTune.Torch;

public sealed class ValueHead : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight, bias;

    public ValueHead(int hidden) : base("v_head")
    {
        weight = new Parameter(empty(1, hidden));
        using (no_grad())
            weight.normal_(0, 0.02);
        bias = new Parameter(zeros(1));
        RegisterComponents();
    }

    /// <summary>(…, C) hidden states → (…) values, in float32.</summary>
    public override Tensor forward(Tensor hidden) =>
        nn.functional.linear(hidden.to(ScalarType.Float32), weight, bias).squeeze(-1);

    /// <summary>The parameters under the names the optimizer and checkpoints use.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> Named() =>
        named_parameters().Select(p => ("v_head." + p.name, p.parameter));
}
