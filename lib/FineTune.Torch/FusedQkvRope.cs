// bf16 autocast attention's inputs on the CPU as one autograd function: the stacked q, k, v projection's bfloat16
// output (B, T, (heads + 2·kv_heads)·hd) split into heads (B, heads, T, hd), q and k rotated (RoPE, as
// FusedRope: with h = hd/2,
//   y[i] = x[i]·cos[i] − x[i+h]·sin[i],   y[i+h] = x[i+h]·cos[i+h] + x[i]·sin[i+h])
// in float32 from the exact widened values, q then scaled by 1/√hd, each rounded once to bf16; v moved as it is. The
// backward is the inverse rotation of the incoming bf16 gradients (q's scaled first), rounded once into the stacked
// layout the projection's backward takes. The same float operations in the same order as the composed path (a cast to
// float32, FusedRope, the scale, the cast back to bf16; their backwards in reverse), so the same bits, in one pass
// each way instead of about eight libtorch kernels and float32 copies of the three projections.
using System.Runtime.Intrinsics;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public sealed unsafe class FusedQkvRope : autograd.MultiTensorFunction<FusedQkvRope>
{
    public override string Name => nameof(FusedQkvRope);

    // positions a work item covers: its float32 values (Block · hd) and their bf16 rounding stay in L1/L2
    const int Block = 32;

    /// <summary>qkv (B, T, (heads + 2·kvHeads)·hd) bfloat16 and cos/sin (B, 1, T, hd) float32, on the CPU, hd
    /// even.</summary>
    public static bool Supports(Tensor qkv, Tensor cos, Tensor sin, int heads, int kvHeads, int headDim) =>
        qkv.dtype == ScalarType.BFloat16 && qkv.device_type == DeviceType.CPU && qkv.dim() == 3
        && qkv.shape[2] == (long)(heads + 2 * kvHeads) * headDim
        && SupportsAngles(cos, sin, qkv.shape[0], qkv.shape[1], headDim);

    /// <summary>cos/sin (B, 1, T, hd) float32 on the CPU, hd even: what the angles must be.</summary>
    public static bool SupportsAngles(Tensor cos, Tensor sin, long batch, long length, int headDim) =>
        cos.dtype == ScalarType.Float32 && sin.dtype == ScalarType.Float32 && cos.device_type == DeviceType.CPU
        && sin.device_type == DeviceType.CPU && headDim % 2 == 0 && cos.dim() == 4
        && cos.shape.SequenceEqual(new[] { batch, 1, length, headDim }) && sin.shape.SequenceEqual(cos.shape);

    /// <returns>q (B, heads, T, hd) rotated and scaled by 1/√hd, k (B, kvHeads, T, hd) rotated, v (B, kvHeads, T,
    /// hd); all bfloat16</returns>
    public static (Tensor Q, Tensor K, Tensor V) Compute(Tensor qkv, Tensor cos, Tensor sin, int heads, int kvHeads,
        int headDim)
    {
        if (!Supports(qkv, cos, sin, heads, kvHeads, headDim))
            throw new ArgumentException($"expected bfloat16 (B, T, {(heads + 2 * kvHeads) * headDim}) projections " +
                $"and float32 (B, 1, T, {headDim}) cos/sin on the CPU, got {qkv.dtype} " +
                $"[{string.Join(", ", qkv.shape)}] and {cos.dtype} [{string.Join(", ", cos.shape)}].", nameof(qkv));
        var layout = new Layout(qkv.shape[0], qkv.shape[1], heads, kvHeads, headDim);
        var outputs = is_grad_enabled() && qkv.requires_grad
            ? apply(qkv, cos, sin, layout)
            : Forward(qkv.detach().contiguous(), cos.detach().contiguous(), sin.detach().contiguous(), layout);
        return (outputs[0], outputs[1], outputs[2]);
    }

    public override List<Tensor> forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (cos, sin) = (((Tensor)vars[1]).detach().contiguous(), ((Tensor)vars[2]).detach().contiguous());
        var layout = (Layout)vars[3];
        ctx.save_for_backward([cos, sin]);
        ctx.save_data("layout", layout);
        return Forward(((Tensor)vars[0]).detach().contiguous(), cos, sin, layout);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, List<Tensor> gradOutputs)
    {
        var saved = ctx.get_saved_variables();
        var layout = (Layout)ctx.get_data("layout");
        using var _ = no_grad();
        var dqkv = empty(layout.B, layout.T, layout.Width, ScalarType.BFloat16);
        // an output nobody used has no gradient: its part of dqkv is zero
        var grads = gradOutputs.Select(g => g is null || g.IsInvalid ? null : g.to(ScalarType.BFloat16).contiguous())
            .ToArray();
        Run(layout, dqkv, grads, saved[0], saved[1], inverse: true);
        GC.KeepAlive(saved);
        return [dqkv, null!, null!, null!];
    }

    static List<Tensor> Forward(Tensor qkv, Tensor cos, Tensor sin, Layout layout)
    {
        using var _ = no_grad();
        Tensor[] heads = [empty(layout.B, layout.Heads, layout.T, layout.HeadDim, ScalarType.BFloat16),
            empty(layout.B, layout.KvHeads, layout.T, layout.HeadDim, ScalarType.BFloat16),
            empty(layout.B, layout.KvHeads, layout.T, layout.HeadDim, ScalarType.BFloat16)];
        Run(layout, qkv, heads, cos, sin, inverse: false);
        return [.. heads];
    }

    /// <summary>The shapes: B, T, query heads, key/value heads, head size.</summary>
    sealed record Layout(long B, long T, int Heads, int KvHeads, int HeadDim)
    {
        public long Width => (long)(Heads + 2 * KvHeads) * HeadDim;
    }

    // Forward: stacked → heads (q, k, v). Backward (inverse): heads' gradients → stacked. One work item is a
    // part (q, k or v), a batch row, a head and a block of positions: contiguous in the heads layout, hd-sized pieces
    // of T rows in the stacked one.
    static void Run(Layout layout, Tensor stacked, Tensor?[] heads, Tensor cos, Tensor sin, bool inverse)
    {
        int hd = layout.HeadDim, half = hd / 2;
        long T = layout.T, width = layout.Width;
        long blocks = (T + Block - 1) / Block;
        int[] headsOf = [layout.Heads, layout.KvHeads, layout.KvHeads];
        long[] firstItem = [0, layout.B * layout.Heads * blocks, layout.B * (layout.Heads + layout.KvHeads) * blocks];
        long items = layout.B * (layout.Heads + 2 * layout.KvHeads) * blocks;
        float scale = (float)(1 / Math.Sqrt(hd));
        ushort* s = (ushort*)TensorMemory.Pointer(stacked);
        var h = heads.Select(t => t is null ? 0 : (nint)TensorMemory.Pointer(t)).ToArray();
        float* pc = (float*)TensorMemory.Pointer(cos), ps = (float*)TensorMemory.Pointer(sin);
        ThreadBlocks.Run(checked((int)items), (first, last) =>
        {
            float* y = stackalloc float[Block * hd];
            ushort* rounded = stackalloc ushort[Block * hd];
            for (long item = first; item < last; item++)
            {
                int part = item >= firstItem[2] ? 2 : item >= firstItem[1] ? 1 : 0;
                long local = item - firstItem[part];
                long b = local / (headsOf[part] * blocks), head = local / blocks % headsOf[part];
                long t0 = local % blocks * Block;
                int n = (int)Math.Min(Block, T - t0);
                // this head's columns in the stacked rows: q's heads, then k's, then v's
                long column = (part == 0 ? 0 : layout.Heads + (part - 1) * layout.KvHeads) * hd + head * hd;
                ushort* rows = s + (b * T + t0) * width + column;
                ushort* block = h[part] == 0 ? null : (ushort*)h[part] + ((b * headsOf[part] + head) * T + t0) * hd;
                if (!inverse)
                {
                    for (int t = 0; t < n; t++)
                        if (part == 2)
                            new ReadOnlySpan<ushort>(rows + t * width, hd).CopyTo(new Span<ushort>(block + t * hd, hd));
                        else
                            Rotate(rows + t * width, y + t * hd, pc + (b * T + t0 + t) * hd,
                                ps + (b * T + t0 + t) * hd, half, part == 0 ? scale : 1f, inverse: false);
                    if (part != 2)
                        DTypes.ToBFloat16(new ReadOnlySpan<float>(y, n * hd), new Span<ushort>(block, n * hd));
                    continue;
                }
                if (block is null)
                    new Span<ushort>(rounded, n * hd).Clear();
                else if (part == 2)
                    new ReadOnlySpan<ushort>(block, n * hd).CopyTo(new Span<ushort>(rounded, n * hd));
                else
                {
                    for (int t = 0; t < n; t++)
                        Rotate(block + t * hd, y + t * hd, pc + (b * T + t0 + t) * hd, ps + (b * T + t0 + t) * hd,
                            half, part == 0 ? scale : 1f, inverse: true);
                    DTypes.ToBFloat16(new ReadOnlySpan<float>(y, n * hd), new Span<ushort>(rounded, n * hd));
                }
                for (int t = 0; t < n; t++)
                    new ReadOnlySpan<ushort>(rounded + t * hd, hd).CopyTo(new Span<ushort>(rows + t * width, hd));
            }
        });
        // the tensors behind the pointers live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(stacked);
        GC.KeepAlive(heads);
        GC.KeepAlive(cos);
        GC.KeepAlive(sin);
    }

    // One position's head: forward, the rotation then the scale (q's 1/√hd, else 1); inverse, the scale then the
    // inverse rotation. float32 products and sums one by one, no fused multiply-add: FusedRope's and libtorch's bits.
    static void Rotate(ushort* x, float* y, float* c, float* s, int half, float scale, bool inverse)
    {
        ushort* x2 = x + half;
        float* y2 = y + half;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var k = Vector256.Create(scale);
            for (; i + 8 <= half; i += 8)
            {
                var (a, b) = (Bf16SoftmaxRows.Load256(x + i), Bf16SoftmaxRows.Load256(x2 + i));
                var (c1, c2, s1, s2) = (Vector256.Load(c + i), Vector256.Load(c + half + i),
                    Vector256.Load(s + i), Vector256.Load(s + half + i));
                if (inverse)
                {
                    (a, b) = (a * k, b * k);
                    (a * c1 + b * s2).Store(y + i);
                    (b * c2 - a * s1).Store(y2 + i);
                }
                else
                {
                    ((a * c1 - b * s1) * k).Store(y + i);
                    ((b * c2 + a * s2) * k).Store(y2 + i);
                }
            }
        }
        for (; i < half; i++)
        {
            float a = Bf16SoftmaxRows.Widen(x[i]), b = Bf16SoftmaxRows.Widen(x2[i]);
            if (inverse)
            {
                (a, b) = (a * scale, b * scale);
                (y[i], y2[i]) = (a * c[i] + b * s[half + i], b * c[half + i] - a * s[i]);
            }
            else
                (y[i], y2[i]) = ((a * c[i] - b * s[i]) * scale, (b * c[half + i] + a * s[half + i]) * scale);
        }
    }
}
