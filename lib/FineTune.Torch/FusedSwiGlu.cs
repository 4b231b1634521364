// SwiGLU's gating for bf16 autocast on the CPU, as one autograd function over the bfloat16 outputs of the gate and up
// projections, computed in float32 from their exact widened values and rounded once to bf16:
//   h = silu(g) · u = g · σ(g) · u,
//   dg = dh · u · σ(g) · (1 + g · (1 − σ(g))),   du = dh · g · σ(g).
// What the composed ops computed (both casts to float32, silu, the product, the cast back; their backwards the same in
// reverse), up to exp's last bits (about one output in 100,000 lands one bf16 step away), but one pass over the
// (B·T, hidden) tensors each way instead of about eleven, and bf16 tensors saved for the backward instead of float32
// ones. σ's exp is Bf16SoftmaxRows' polynomial, its input clamped to [−87, 88], where σ saturates (silu(−88) is
// −5e−37).
using System.Runtime.Intrinsics;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch;

public sealed unsafe class FusedSwiGlu : autograd.SingleTensorFunction<FusedSwiGlu>
{
    public override string Name => nameof(FusedSwiGlu);

    // float32 values between a chunk's products and their rounding to bf16 (8 KB each, in L1)
    const int ChunkFloats = 2048;
    const float ExpHighest = 88f;

    /// <summary>Whether the CPU has the 512-bit vectors it is written for (elsewhere the composed ops run).</summary>
    public static bool Enabled => Vector512.IsHardwareAccelerated;

    /// <summary>Gate and up as bfloat16 tensors of one shape on the CPU: what this function computes.</summary>
    public static bool Supports(Tensor gate, Tensor up) =>
        Enabled && gate.dtype == ScalarType.BFloat16 && up.dtype == ScalarType.BFloat16
        && gate.device_type == DeviceType.CPU && up.device_type == DeviceType.CPU && gate.shape.SequenceEqual(up.shape);

    /// <summary>silu(gate) · up in bfloat16.</summary>
    public static Tensor Compute(Tensor gate, Tensor up)
    {
        if (!Supports(gate, up))
            throw new ArgumentException($"expected bfloat16 gate and up of one shape on the CPU, got {gate.dtype} " +
                $"[{string.Join(", ", gate.shape)}] and {up.dtype} [{string.Join(", ", up.shape)}].", nameof(gate));
        return is_grad_enabled() && (gate.requires_grad || up.requires_grad)
            ? apply(gate, up)
            : Forward(gate.detach().contiguous(), up.detach().contiguous());
    }

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (gate, up) = (((Tensor)vars[0]).detach().contiguous(), ((Tensor)vars[1]).detach().contiguous());
        ctx.save_for_backward([gate, up]);
        return Forward(gate, up);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (gate, up) = (saved[0], saved[1]);
        var dh = gradOutput.to(ScalarType.BFloat16).contiguous();
        var (dGate, dUp) = (empty_like(gate), empty_like(up));
        ushort* g = Data(gate), u = Data(up), d = Data(dh), dg = Data(dGate), du = Data(dUp);
        Chunks(gate.numel(), (start, n, a, b) =>
        {
            int i = 0;
            for (; i + 16 <= n; i += 16)
            {
                var (x, y, z) = (Load512(g + start + i), Load512(u + start + i), Load512(d + start + i));
                var s = Sigmoid(x);
                (z * y * s * (Vector512<float>.One + x * (Vector512<float>.One - s))).Store(a + i);
                (z * (x * s)).Store(b + i);
            }
            for (; i < n; i++)
            {
                float x = Widen(g[start + i]), y = Widen(u[start + i]), z = Widen(d[start + i]);
                float s = Sigmoid(x);
                a[i] = z * y * s * (1 + x * (1 - s));
                b[i] = z * (x * s);
            }
            DTypes.ToBFloat16(new ReadOnlySpan<float>(a, n), new Span<ushort>(dg + start, n));
            DTypes.ToBFloat16(new ReadOnlySpan<float>(b, n), new Span<ushort>(du + start, n));
        });
        // the tensors behind the pointers live until here (a temporary's finalizer would free them mid-loop)
        GC.KeepAlive(dh);
        GC.KeepAlive(saved);
        return [dGate, dUp];
    }

    static Tensor Forward(Tensor gate, Tensor up)
    {
        using var _ = no_grad();
        var h = empty_like(gate);
        ushort* g = Data(gate), u = Data(up), o = Data(h);
        Chunks(gate.numel(), (start, n, a, _) =>
        {
            int i = 0;
            for (; i + 16 <= n; i += 16)
            {
                var x = Load512(g + start + i);
                (x * Sigmoid(x) * Load512(u + start + i)).Store(a + i);
            }
            for (; i < n; i++)
            {
                float x = Widen(g[start + i]);
                a[i] = x * Sigmoid(x) * Widen(u[start + i]);
            }
            DTypes.ToBFloat16(new ReadOnlySpan<float>(a, n), new Span<ushort>(o + start, n));
        });
        GC.KeepAlive(gate);
        GC.KeepAlive(up);
        return h;
    }

    delegate void ChunkWork(long start, int n, float* a, float* b);

    // Elements [0, count) in chunks of ChunkFloats, the chunks in one block per libtorch thread (ThreadBlocks); each
    // block has its own two float32 scratch chunks.
    static void Chunks(long count, ChunkWork work) =>
        ThreadBlocks.Run(checked((int)((count + ChunkFloats - 1) / ChunkFloats)), (first, last) =>
        {
            float* a = stackalloc float[ChunkFloats], b = stackalloc float[ChunkFloats];
            for (long start = (long)first * ChunkFloats; start < (long)last * ChunkFloats; start += ChunkFloats)
                work(start, (int)Math.Min(ChunkFloats, count - start), a, b);
        });

    static Vector512<float> Sigmoid(Vector512<float> x) => Vector512<float>.One
        / (Vector512<float>.One + Bf16SoftmaxRows.Exp(Vector512.Min(-x, Vector512.Create(ExpHighest))));

    static float Sigmoid(float x) => 1 / (1 + MathF.Exp(MathF.Min(-x, ExpHighest)));

    static Vector512<float> Load512(ushort* x) => Bf16SoftmaxRows.Load512(x);

    static float Widen(ushort value) => Bf16SoftmaxRows.Widen(value);

    static ushort* Data(Tensor t) => (ushort*)TensorMemory.Pointer(t);
}
