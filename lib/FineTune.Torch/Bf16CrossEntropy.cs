// Cross-entropy over bfloat16 logits, the loss of bf16 autocast training: each (V,) row is read twice in the forward
// (max and argmax, then log-sum-exp, in float32: Bf16SoftmaxRows) and once in the backward, which writes its gradient
// g · (softmax − onehot(target)) straight in bf16 — the dtype the LM head's backward products take it in (or the
// forward does, right after the row's loss, where the caller says what g will be: ComputeWithGradient). Through
// libtorch the same loss was a float32 copy of the logits, log_softmax, its backward, the cast back and an argmax for
// the accuracy: about six passes over a 262 MB (2,048 × 32k) float32 tensor a step. Summed over targets ≠ -100, like
// cross_entropy(sum); the logits are (N, V) and contiguous.
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public sealed unsafe class Bf16CrossEntropy : autograd.SingleTensorFunction<Bf16CrossEntropy>
{
    public override string Name => nameof(Bf16CrossEntropy);

    /// <param name="logits">(N, V) bfloat16</param>
    /// <param name="targets">(N,) next-token ids, -100 where untrained</param>
    public static LinearCrossEntropyResult Compute(Tensor logits, Tensor targets) => Compute(logits, targets, false);

    /// <summary>As Compute, but the backward writes the logits' gradient over the logits themselves: for a caller whose
    /// logits are its own and no further use (the training loss), no second (N, V) tensor and each row read and
    /// written in one place (131 MB a step at 2,048 tokens and a 32k vocabulary). Backpropagated once only: a second
    /// backward finds the logits gone and stops the process (an exception cannot cross libtorch's autograd
    /// engine).</summary>
    internal static LinearCrossEntropyResult ComputeOverwriting(Tensor logits, Tensor targets) =>
        Compute(logits, targets, true);

    /// <summary>As ComputeOverwriting, for a caller that knows the upstream gradient its backward will get (the
    /// training loss: 1 / the step's trained tokens): the forward writes g · (softmax − onehot) over each row while
    /// the row is still in cache from its two forward passes, and the backward hands that on — one pass over the
    /// (N, V) logits from memory fewer a step. Same bits as ComputeOverwriting when the upstream gradient is the one
    /// given; another one rescales the written gradient (one more rounding).</summary>
    internal static LinearCrossEntropyResult ComputeWithGradient(Tensor logits, Tensor targets, float gradient) =>
        Compute(logits, targets, true, gradient);

    static LinearCrossEntropyResult Compute(Tensor logits, Tensor targets, bool gradientInPlace,
        float? gradient = null)
    {
        if (logits.dtype != ScalarType.BFloat16 || logits.dim() != 2 || logits.device_type != DeviceType.CPU)
            throw new ArgumentException($"expected (N, V) bfloat16 logits on the CPU, got {logits.dtype} " +
                $"[{string.Join(", ", logits.shape)}] on {logits.device_type}.", nameof(logits));
        if (targets.shape.Length != 1 || targets.shape[0] != logits.shape[0])
            throw new ArgumentException(
                $"expected {logits.shape[0]} targets, got [{string.Join(", ", targets.shape)}].", nameof(targets));
        var stats = new long[2];
        var sum = is_grad_enabled() && logits.requires_grad
            ? apply(logits, targets, stats, new Overwrite(gradientInPlace, gradient))
            : Forward(logits.contiguous(), targets, stats, null).Sum;
        return new LinearCrossEntropyResult(sum, stats[0], stats[1]);
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var logits = ((Tensor)vars[0]).detach().contiguous();
        var overwrite = (Overwrite)vars[3];
        var (sum, max, targets) = Forward(logits, (Tensor)vars[1], (long[])vars[2], overwrite.Gradient);
        ctx.save_for_backward([logits, max, targets]);
        ctx.save_data("overwrite", overwrite);
        return sum;
    }

    // Whether the backward writes the gradient over the saved logits (or the forward already has, for this upstream
    // gradient), and whether a backward has run.
    sealed class Overwrite(bool inPlace, float? gradient)
    {
        public bool InPlace { get; } = inPlace;
        public float? Gradient { get; } = gradient;
        public bool Done { get; set; }
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (logits, max, targets) = (saved[0], saved[1], saved[2]);
        var overwrite = (Overwrite)ctx.get_data("overwrite");
        if (overwrite.Done)
            Environment.FailFast("Bf16CrossEntropy: a second backward through a loss computed with " +
                "ComputeOverwriting or ComputeWithGradient, whose gradient was written over the logits.");
        float g = gradOutput.to(ScalarType.Float32).item<float>();
        overwrite.Done = overwrite.InPlace;
        if (overwrite.Gradient is { } written)
        {
            // the forward wrote the gradient for `written`
            if (g != written)
                logits.mul_(ScalarOps.Filled([], g / written));
            return [logits, null!, null!, null!];
        }
        var grad = overwrite.InPlace ? logits : empty_like(logits);
        int n = (int)logits.shape[0], v = (int)logits.shape[1];
        ushort* x = (ushort*)Data(logits), dx = (ushort*)Data(grad);
        float* m = (float*)Data(max);
        long* t = (long*)Data(targets);
        // each block's scratch: a row's exps
        ThreadBlocks.Run(n, v, (first, last, e) =>
        {
            for (int r = first; r < last; r++)
            {
                ushort* xr = x + (long)r * v, dxr = dx + (long)r * v;
                if (t[r] < 0)
                    new Span<ushort>(dxr, v).Clear();
                else
                    RowGradient(e, Bf16SoftmaxRows.SumExp(xr, v, m[r], e), dxr, v, t[r], g);
            }
        });
        // One gradient per argument of apply: the logits, then the targets, stats and overwrite marker (none).
        GC.KeepAlive(saved);
        return [grad, null!, null!, null!];
    }

    // A trained row's gradient g · (softmax − onehot(target)) in bf16 from its exps e = exp(x − max) and their
    // sum: e · (g / sum), then − g at the target. The forward's and the backward's, so both give the same bits.
    static void RowGradient(float* e, float sum, ushort* dxr, int v, long target, float g)
    {
        Bf16SoftmaxRows.Scale(e, v, g / sum, dxr);
        dxr[target] = DTypes.ToBFloat16(e[target] - g);
    }

    // The loss sum (a 0-d float32 tensor), each row's max (N,) and the targets as a contiguous int64 tensor;
    // stats[0] += trained rows, stats[1] += trained rows whose argmax is the target. With a gradient: each row's
    // gradient for it is written over the row once its loss is taken.
    static (Tensor Sum, Tensor Max, Tensor Targets) Forward(Tensor logits, Tensor targets, long[] stats,
        float? gradient)
    {
        using var _ = no_grad();
        int n = (int)logits.shape[0], v = (int)logits.shape[1];
        var ids = targets.to(ScalarType.Int64).contiguous();
        var max = empty(n, dtype: ScalarType.Float32);
        ushort* x = (ushort*)Data(logits);
        float* m = (float*)Data(max);
        long* t = (long*)Data(ids);
        for (int r = 0; r < n; r++)
            if (t[r] >= v || t[r] < 0 && t[r] != -100)
                throw new ArgumentException($"target {t[r]} at row {r} is outside the vocabulary [0, {v}) (or -100).",
                    nameof(targets));
        var losses = new double[n];
        var hits = new bool[n];
        // each block's scratch: the row's exps, kept for its gradient (none without one)
        ThreadBlocks.Run(n, gradient is null ? 0 : v, (first, last, e) =>
        {
            for (int r = first; r < last; r++)
            {
                ushort* xr = x + (long)r * v;
                if (t[r] < 0)
                {
                    if (gradient is not null)
                        new Span<ushort>(xr, v).Clear();
                    continue;
                }
                int target = (int)t[r];
                (m[r], hits[r]) = Bf16SoftmaxRows.MaxAndHit(xr, v, target);
                float sum = Bf16SoftmaxRows.SumExp(xr, v, m[r], e);
                losses[r] = m[r] + MathF.Log(sum) - Bf16SoftmaxRows.Widen(xr[target]);
                if (gradient is { } g)
                    RowGradient(e, sum, xr, v, target, g);
            }
        });
        double sum = 0;
        for (int r = 0; r < n; r++)
            if (t[r] >= 0)
            {
                sum += losses[r];
                stats[0]++;
                stats[1] += hits[r] ? 1 : 0;
            }
        // the logits behind the pointer live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(logits);
        return (tensor((float)sum), max, ids);
    }

    static void* Data(Tensor t) => TensorMemory.Pointer(t);
}
