// Attention's softmax for bf16 autocast on the CPU, as one autograd function over the bfloat16 scores and the float32
// additive mask, in float32 from the exact widened scores and rounded once to bf16, row by row over the last dim:
//   x = s + mask,  p = exp(x − max x) / Σ exp(x − max x),   ds = p · (dp − Σ p · dp).
// What the composed ops computed (the mask cast to bf16, the bf16 add, libtorch's bf16 softmax, and their backwards),
// up to exp's last bits and the division, for a mask of 0 and −inf (any other value is added unrounded): one pass
// over the (B, H, T, S) scores each way instead of three, and a block of 16 positions the mask closes wholly (half of a
// causal mask) written as zeros without its exps. A row the mask closes wholly is NaN, as libtorch's softmax makes it.
// exp is Bf16SoftmaxRows' polynomial.
using System.Runtime.Intrinsics;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public sealed unsafe class FusedMaskedSoftmax : autograd.SingleTensorFunction<FusedMaskedSoftmax>
{
    public override string Name => nameof(FusedMaskedSoftmax);

    const int Wide = 16;

    /// <summary>Whether the CPU has the 512-bit vectors it is written for (elsewhere the composed ops run).</summary>
    public static bool Enabled => Vector512.IsHardwareAccelerated;

    /// <summary>(B, H, T, S) bfloat16 scores and a (B or 1, 1, T, S) float32 mask without a gradient, on the CPU:
    /// what this function computes.</summary>
    public static bool Supports(Tensor scores, Tensor mask) =>
        Enabled && scores.dtype == ScalarType.BFloat16 && mask.dtype == ScalarType.Float32
        && scores.device_type == DeviceType.CPU && mask.device_type == DeviceType.CPU && !mask.requires_grad
        && scores.dim() == 4 && mask.dim() == 4 && scores.shape[3] > 0
        && (mask.shape[0] == scores.shape[0] || mask.shape[0] == 1) && mask.shape[1] == 1
        && mask.shape[2] == scores.shape[2] && mask.shape[3] == scores.shape[3];

    /// <summary>softmax(scores + mask, −1) in bfloat16.</summary>
    public static Tensor Compute(Tensor scores, Tensor mask)
    {
        if (!Supports(scores, mask))
            throw new ArgumentException($"expected (B, H, T, S) bfloat16 scores and a (B or 1, 1, T, S) float32 mask " +
                $"without a gradient on the CPU, got {scores.dtype} [{string.Join(", ", scores.shape)}] and " +
                $"{mask.dtype} [{string.Join(", ", mask.shape)}].", nameof(scores));
        return is_grad_enabled() && scores.requires_grad
            ? apply(scores, mask)
            : Forward(scores.detach().contiguous(), mask.contiguous());
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var probabilities = Forward(((Tensor)vars[0]).detach().contiguous(), ((Tensor)vars[1]).contiguous());
        ctx.save_for_backward([probabilities]);
        return probabilities;
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var probabilities = saved[0];
        var dp = gradOutput.to(ScalarType.BFloat16).contiguous();
        var ds = empty_like(probabilities);
        int s = (int)probabilities.shape[3];
        ushort* p = Data(probabilities), d = Data(dp), o = Data(ds);
        ThreadBlocks.Run(checked((int)(probabilities.numel() / s)), s, (first, last, f) =>
        {
            for (long r = first; r < last; r++)
                RowBackward(p + r * s, d + r * s, o + r * s, s, f);
        });
        // the tensors behind the pointers live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(dp);
        GC.KeepAlive(saved);
        return [ds, null!];
    }

    static Tensor Forward(Tensor scores, Tensor mask)
    {
        using var _ = no_grad();
        var probabilities = empty_like(scores);
        long heads = scores.shape[1], t = scores.shape[2];
        int s = (int)scores.shape[3];
        bool perBatch = mask.shape[0] != 1;
        ushort* x = Data(scores), o = Data(probabilities);
        float* m = (float*)TensorMemory.Pointer(mask);
        // each block's scratch: the row's exps, between the sum and the rounding
        ThreadBlocks.Run(checked((int)(scores.numel() / s)), s, (first, last, e) =>
        {
            for (long r = first; r < last; r++)
            {
                long batch = r / (heads * t), query = r % t;
                RowForward(x + r * s, m + ((perBatch ? batch : 0) * t + query) * s, o + r * s, s, e);
            }
        });
        GC.KeepAlive(scores);
        GC.KeepAlive(mask);
        return probabilities;
    }

    // e holds the row in float32: s + mask (−inf where closed), then its exps
    static void RowForward(ushort* x, float* mask, ushort* o, int s, float* e)
    {
        var closed = Vector512.Create(float.NegativeInfinity);
        var vmax = closed;
        int i = 0;
        for (; i + Wide <= s; i += Wide)
        {
            var m = Vector512.Load(mask + i);
            var xi = Vector512.EqualsAll(m, closed) ? closed : Bf16SoftmaxRows.Load512(x + i) + m;
            vmax = Vector512.Max(vmax, xi);
            xi.Store(e + i);
        }
        float max = Bf16SoftmaxRows.MaxLanes(Vector256.Max(vmax.GetLower(), vmax.GetUpper()));
        for (int j = i; j < s; j++)
            max = MathF.Max(max, e[j] = Bf16SoftmaxRows.Widen(x[j]) + mask[j]);
        if (float.IsNegativeInfinity(max))
        {
            new Span<ushort>(o, s).Fill(DTypes.ToBFloat16(float.NaN));
            return;
        }
        var shift = Vector512.Create(max);
        var vsum = Vector512<float>.Zero;
        for (i = 0; i + Wide <= s; i += Wide)
        {
            var xi = Vector512.Load(e + i);
            var exps = Vector512.EqualsAll(xi, closed)
                ? Vector512<float>.Zero
                : Bf16SoftmaxRows.Exp(xi - shift) & ~Vector512.Equals(xi, closed);
            vsum += exps;
            exps.Store(e + i);
        }
        float sum = Vector512.Sum(vsum);
        for (int j = i; j < s; j++)
            sum += e[j] = float.IsNegativeInfinity(e[j]) ? 0 : MathF.Exp(e[j] - max);
        Bf16SoftmaxRows.Scale(e, s, 1 / sum, o);
    }

    // ds = p · (dp − Σ p · dp), a block of 16 zero probabilities giving zeros; f holds the row in float32
    static void RowBackward(ushort* p, ushort* dp, ushort* ds, int s, float* f)
    {
        var vdot = Vector512<float>.Zero;
        int i = 0;
        for (; i + Wide <= s; i += Wide)
            vdot += Bf16SoftmaxRows.Load512(p + i) * Bf16SoftmaxRows.Load512(dp + i);
        float dot = Vector512.Sum(vdot);
        for (int j = i; j < s; j++)
            dot += Bf16SoftmaxRows.Widen(p[j]) * Bf16SoftmaxRows.Widen(dp[j]);
        var vd = Vector512.Create(dot);
        for (i = 0; i + Wide <= s; i += Wide)
        {
            var pi = Bf16SoftmaxRows.Load512(p + i);
            (pi == Vector512<float>.Zero ? pi : pi * (Bf16SoftmaxRows.Load512(dp + i) - vd)).Store(f + i);
        }
        for (int j = i; j < s; j++)
            f[j] = Bf16SoftmaxRows.Widen(p[j]) * (Bf16SoftmaxRows.Widen(dp[j]) - dot);
        DTypes.ToBFloat16(new ReadOnlySpan<float>(f, s), new Span<ushort>(ds, s));
    }

    static ushort* Data(Tensor t) => (ushort*)TensorMemory.Pointer(t);
}
