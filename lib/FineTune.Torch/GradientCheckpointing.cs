// Gradient checkpointing (activation recompute, Chen et al. 2016): a decoder layer's forward runs without keeping its
// intermediates; backward runs it again from the saved input, under the same RNG state (so dropout draws the same
// mask), and back-propagates through the recomputed graph. Memory per layer drops to its input; compute rises by
// about one forward.
namespace FineTune.Torch;

sealed class CheckpointedLayer : autograd.SingleTensorFunction<CheckpointedLayer>
{
    public override string Name => nameof(CheckpointedLayer);

    public static Tensor Apply(DecoderLayer layer, Tensor x, Tensor cos, Tensor sin, Tensor mask,
        (Tensor Keys, Tensor Values)? prefix) =>
        prefix is var (keys, values)
            ? apply(layer, x, cos, sin, mask, keys, values)
            : apply(layer, x, cos, sin, mask);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var layer = (DecoderLayer)vars[0];
        var x = (Tensor)vars[1];
        ctx.save_for_backward([x]);
        ctx.save_data("inputs", vars);
        ctx.save_data("rng", get_rng_state());
        using var _ = no_grad();
        return layer.forward(x, (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4], null, 0, Prefix(vars));
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
    {
        var vars = (object[])ctx.get_data("inputs");
        var layer = (DecoderLayer)vars[0];
        var x = ctx.get_saved_variables()[0].detach().requires_grad_(true);
        var prefix = Prefix(vars) is var (k, v) ? (k.detach().requires_grad_(k.requires_grad),
            v.detach().requires_grad_(v.requires_grad)) : ((Tensor, Tensor)?)null;
        using var rng = get_rng_state();
        set_rng_state((Tensor)ctx.get_data("rng"));
        using (enable_grad())
        {
            var y = layer.forward(x, (Tensor)vars[2], (Tensor)vars[3], (Tensor)vars[4], null, 0, prefix);
            y.backward([grad]);   // accumulates the layer's parameter gradients; x.grad is what flows on
        }
        set_rng_state(rng);
        // One gradient per argument of apply: the layer (none), x, cos, sin, mask (constants), then the prefix keys and
        // values.
        List<Tensor> grads = [null!, x.grad!, null!, null!, null!];
        if (prefix is var (pk, pv))
            grads.AddRange([pk.grad!, pv.grad!]);
        return grads;
    }

    static (Tensor, Tensor)? Prefix(object[] vars) => vars.Length > 5 ? ((Tensor)vars[5], (Tensor)vars[6]) : null;
}
