// Float32 SIMD kernels for CpuLlama: register-blocked matrix x activations products, per-head attention, RMSNorm.
// Matrices are stored as panels of 4 rows: for each group of 8 inputs, the 4 rows' 8 values lie side by side
// (32 floats), so a kernel streams its weights strictly sequentially — decoding is memory-bound, and interleaved reads
// of 4-8 separate rows measured 25-35% slower than one sequential stream. `in` is padded to a multiple of 8 and `out`
// to a multiple of 4 (zeros), so the hot loops have no tails. Every output is one FMA chain over `in` in the same
// order whatever the batch shape, so a row's result does not depend on the batch it is in.
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

/// <summary>A pinned, 64-byte aligned float array (zero-filled) that kernels address by pointer.</summary>
internal sealed unsafe class FloatBuffer
{
    readonly float[] _array; // keeps the pinned storage alive
    public readonly float* Ptr;
    public readonly int Length;

    public FloatBuffer(long length)
    {
        if (length > int.MaxValue - 16)
            throw new ArgumentOutOfRangeException(nameof(length), length, "buffer too large for one array");
        Length = (int)length;
        _array = GC.AllocateArray<float>(Length + 16, pinned: true);
        var p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_array));
        Ptr = p + (int)((64 - ((nuint)p & 63)) & 63) / sizeof(float);
    }

    public Span<float> Span => new(Ptr, Length);
    public Span<float> Slice(long start, int length) => new(Ptr + start, length);
}

internal static unsafe class CpuKernels
{
    public static readonly bool Simd = Fma.IsSupported && Avx2.IsSupported;
    // 512-bit products: one zmm holds two panel rows' 8 values, so a group of 8 inputs takes 2 FMAs per activation row
    // instead of 4. Every block size uses the same lane layout and reduction, so results stay batch-invariant.
    public static readonly bool Simd512 = Simd && Avx512F.IsSupported && Avx512DQ.IsSupported
                                          && Environment.GetEnvironmentVariable("FINETUNE_CPU_AVX512") != "0";

    public static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    /// <summary>
    /// y[b, r] = dot(w[r, 0..k), x[b, 0..k)) (+ bias[r]) for rows [rowStart, rowEnd) (multiples of 4) and b in [0,
    /// batch). w: 4-row panels (see <see cref="PackPanels"/>) with k % 8 == 0; x: (batch, xStride); y: (batch,
    /// yStride).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(float* w, int k, int rowStart, int rowEnd, float* x, int xStride, int batch,
        float* y, int yStride, float* bias)
    {
        if (!Simd)
        {
            for (int r = rowStart; r < rowEnd; r++)
                for (int b = 0; b < batch; b++)
                {
                    float sum = 0;
                    for (int i = 0; i < k; i++)
                        sum += PanelAt(w, k, r, i) * x[(long)b * xStride + i];
                    y[(long)b * yStride + r] = sum + (bias == null ? 0f : bias[r]);
                }
            return;
        }
        // The 4-row panel stays in L1 while every activation row passes over it, 4 rows at a time: a block of 8 needs
        // 16 accumulators, and .NET 10's JIT spills one of them on every iteration (25-30% slower, measured).
        if (Simd512)
        {
            for (int r = rowStart; r < rowEnd; r += 4)
            {
                float* panel = w + (long)r * k, br = bias == null ? null : bias + r;
                int b = 0;
                for (; b + 4 <= batch; b += 4)
                    Block4x4Wide(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                for (; b < batch; b++)
                    Block4x1Wide(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, br);
            }
            return;
        }
        for (int r = rowStart; r < rowEnd; r += 4)
        {
            float* panel = w + (long)r * k, br = bias == null ? null : bias + r;
            int b = 0;
            for (; b + 4 <= batch; b += 4)
                Block4x4(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
            for (; b + 2 <= batch; b += 2)
                Block4x2(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
            for (; b < batch; b++)
                Block4x1(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, br);
        }
    }

    /// <summary>Writes row-major (rows, k) values, rows a multiple of 4 and k of 8, as 4-row panels into dst.</summary>
    public static void PackPanels(ReadOnlySpan<float> rowMajor, int rows, int k, float* dst)
    {
        for (int r = 0; r < rows; r++)
            for (int g = 0; g < k; g += 8)
                rowMajor.Slice(r * k + g, 8).CopyTo(new Span<float>(dst + PanelIndex(k, r, g), 8));
    }

    /// <summary>Copies row r (the first n of its k values) out of a panel matrix: an embedding lookup.</summary>
    public static void CopyPanelRow(float* w, int k, int r, int n, float* dst)
    {
        for (int g = 0; g < n; g += 8)
            new ReadOnlySpan<float>(w + PanelIndex(k, r, g),
                Math.Min(8, n - g)).CopyTo(new Span<float>(dst + g, Math.Min(8, n - g)));
    }

    // Offset of w[r, g..g+8) (g a multiple of 8) in panel layout: panel r/4, group g/8, row r%4 within the group.
    static long PanelIndex(int k, int r, int g) => (long)(r / 4) * 4 * k + (long)(g / 8) * 32 + (r % 4) * 8;

    static float PanelAt(float* w, int k, int r, int i) => w[PanelIndex(k, r, i / 8 * 8) + i % 8];

    // [sum(a), sum(b), sum(c), sum(d)]
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c,
        Vector256<float> d)
    {
        var abcd = Avx.HorizontalAdd(Avx.HorizontalAdd(a, b), Avx.HorizontalAdd(c, d));
        return Sse.Add(abcd.GetLower(), abcd.GetUpper());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* y, Vector128<float> sums, float* bias)
    {
        if (bias != null)
            sums = Sse.Add(sums, Sse.LoadVector128(bias));
        Sse.Store(y, sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1(float* w, int k, float* x, float* y, float* bias)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Avx.LoadVector256(x + i);
            a0 = Fma.MultiplyAdd(Avx.LoadVector256(w), u, a0);
            a1 = Fma.MultiplyAdd(Avx.LoadVector256(w + 8), u, a1);
            a2 = Fma.MultiplyAdd(Avx.LoadVector256(w + 16), u, a2);
            a3 = Fma.MultiplyAdd(Avx.LoadVector256(w + 24), u, a3);
        }
        Store4(y, Sum4(a0, a1, a2, a3), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x2(float* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v0 = Avx.LoadVector256(w);
            var v1 = Avx.LoadVector256(w + 8);
            var v2 = Avx.LoadVector256(w + 16);
            var v3 = Avx.LoadVector256(w + 24);
            var u = Avx.LoadVector256(x + i);
            a00 = Fma.MultiplyAdd(v0, u, a00);
            a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20);
            a30 = Fma.MultiplyAdd(v3, u, a30);
            u = Avx.LoadVector256(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01);
            a11 = Fma.MultiplyAdd(v1, u, a11);
            a21 = Fma.MultiplyAdd(v2, u, a21);
            a31 = Fma.MultiplyAdd(v3, u, a31);
        }
        Store4(y, Sum4(a00, a10, a20, a30), bias);
        Store4(y + yStride, Sum4(a01, a11, a21, a31), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4(float* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        Vector256<float> a02 = default, a12 = default, a22 = default, a32 = default;
        Vector256<float> a03 = default, a13 = default, a23 = default, a33 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v0 = Avx.LoadVector256(w);
            var v1 = Avx.LoadVector256(w + 8);
            var v2 = Avx.LoadVector256(w + 16);
            var v3 = Avx.LoadVector256(w + 24);
            var u = Avx.LoadVector256(x + i);
            a00 = Fma.MultiplyAdd(v0, u, a00);
            a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20);
            a30 = Fma.MultiplyAdd(v3, u, a30);
            u = Avx.LoadVector256(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01);
            a11 = Fma.MultiplyAdd(v1, u, a11);
            a21 = Fma.MultiplyAdd(v2, u, a21);
            a31 = Fma.MultiplyAdd(v3, u, a31);
            u = Avx.LoadVector256(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02);
            a12 = Fma.MultiplyAdd(v1, u, a12);
            a22 = Fma.MultiplyAdd(v2, u, a22);
            a32 = Fma.MultiplyAdd(v3, u, a32);
            u = Avx.LoadVector256(x3 + i);
            a03 = Fma.MultiplyAdd(v0, u, a03);
            a13 = Fma.MultiplyAdd(v1, u, a13);
            a23 = Fma.MultiplyAdd(v2, u, a23);
            a33 = Fma.MultiplyAdd(v3, u, a33);
        }
        Store4(y, Sum4(a00, a10, a20, a30), bias);
        Store4(y + yStride, Sum4(a01, a11, a21, a31), bias);
        Store4(y + 2 * yStride, Sum4(a02, a12, a22, a32), bias);
        Store4(y + 3 * yStride, Sum4(a03, a13, a23, a33), bias);
    }

    // The four row sums of a 512-bit block: lanes 0-7 of r01 are row 0's partial sums, 8-15 row 1's; r23 likewise.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> Sum4(Vector512<float> r01, Vector512<float> r23) =>
        Sum4(r01.GetLower(), r01.GetUpper(), r23.GetLower(), r23.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1Wide(float* w, int k, float* x, float* y, float* bias)
    {
        Vector512<float> a = default, b = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Avx512DQ.BroadcastVector256ToVector512(x + i);
            a = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(w), u, a);
            b = Avx512F.FusedMultiplyAdd(Avx512F.LoadVector512(w + 16), u, b);
        }
        Store4(y, Sum4(a, b), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4Wide(float* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default,
            a3 = default, b3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v01 = Avx512F.LoadVector512(w);
            var v23 = Avx512F.LoadVector512(w + 16);
            var u = Avx512DQ.BroadcastVector256ToVector512(x + i);
            a0 = Avx512F.FusedMultiplyAdd(v01, u, a0);
            b0 = Avx512F.FusedMultiplyAdd(v23, u, b0);
            u = Avx512DQ.BroadcastVector256ToVector512(x1 + i);
            a1 = Avx512F.FusedMultiplyAdd(v01, u, a1);
            b1 = Avx512F.FusedMultiplyAdd(v23, u, b1);
            u = Avx512DQ.BroadcastVector256ToVector512(x2 + i);
            a2 = Avx512F.FusedMultiplyAdd(v01, u, a2);
            b2 = Avx512F.FusedMultiplyAdd(v23, u, b2);
            u = Avx512DQ.BroadcastVector256ToVector512(x3 + i);
            a3 = Avx512F.FusedMultiplyAdd(v01, u, a3);
            b3 = Avx512F.FusedMultiplyAdd(v23, u, b3);
        }
        Store4(y, Sum4(a0, b0), bias);
        Store4(y + yStride, Sum4(a1, b1), bias);
        Store4(y + 2 * yStride, Sum4(a2, b2), bias);
        Store4(y + 3 * yStride, Sum4(a3, b3), bias);
    }

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight, over the first n values.</summary>
    // The element-wise helpers below are hand-written rather than TensorPrimitives calls: those generic methods start
    // in tier-0 code and, because each new span length reaches new code, take seconds of decoding to be optimized.

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight, over the first n values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RmsNorm(float* x, float* weight, float* y, int n, float eps)
    {
        if (!Simd)
        {
            var xs = new ReadOnlySpan<float>(x, n);
            var ys = new Span<float>(y, n);
            TensorPrimitives.Multiply(xs, 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xs) / n + eps), ys);
            TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(weight, n), ys);
            return;
        }
        int i = 0;
        var acc = Vector256<float>.Zero;
        for (; i + 8 <= n; i += 8)
        {
            var v = Avx.LoadVector256(x + i);
            acc = Fma.MultiplyAdd(v, v, acc);
        }
        float ss = Vector256.Sum(acc);
        for (; i < n; i++)
            ss += x[i] * x[i];
        float inv = 1f / MathF.Sqrt(ss / n + eps);
        var vinv = Vector256.Create(inv);
        for (i = 0; i + 8 <= n; i += 8)
            Avx.Store(y + i, Avx.Multiply(Avx.Multiply(Avx.LoadVector256(x + i), vinv), Avx.LoadVector256(weight + i)));
        for (; i < n; i++)
            y[i] = x[i] * inv * weight[i];
    }

    /// <summary>x += y over n values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AddTo(float* x, float* y, int n)
    {
        int i = 0;
        if (Simd)
            for (; i + 8 <= n; i += 8)
                Avx.Store(x + i, Avx.Add(Avx.LoadVector256(x + i), Avx.LoadVector256(y + i)));
        for (; i < n; i++)
            x[i] += y[i];
    }

    /// <summary>y = silu(gate) * up = gate * sigmoid(gate) * up over n values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SwiGlu(float* gate, float* up, float* y, int n)
    {
        int i = 0;
        if (Simd)
        {
            var one = Vector256.Create(1f);
            for (; i + 8 <= n; i += 8)
            {
                var g = Avx.LoadVector256(gate + i);
                var sigmoid = Avx.Divide(one, Avx.Add(one, Exp(Avx.Subtract(Vector256<float>.Zero, g))));
                Avx.Store(y + i, Avx.Multiply(Avx.Multiply(g, sigmoid), Avx.LoadVector256(up + i)));
            }
        }
        for (; i < n; i++)
            y[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }

    /// <summary>s = exp(s - max(s)) in place over n values; returns the sum (softmax without the division).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float ExpShifted(float* s, int n)
    {
        if (!Simd)
        {
            var span = new Span<float>(s, n);
            TensorPrimitives.Subtract(span, TensorPrimitives.Max(span), span);
            TensorPrimitives.Exp(span, span);
            return TensorPrimitives.Sum(span);
        }
        int i = 0;
        float max = float.NegativeInfinity;
        if (n >= 8)
        {
            var vmax = Avx.LoadVector256(s);
            for (i = 8; i + 8 <= n; i += 8)
                vmax = Avx.Max(vmax, Avx.LoadVector256(s + i));
            for (int j = 0; j < 8; j++)
                max = MathF.Max(max, vmax.GetElement(j));
        }
        for (; i < n; i++)
            max = MathF.Max(max, s[i]);
        var shift = Vector256.Create(max);
        var sum = Vector256<float>.Zero;
        for (i = 0; i + 8 <= n; i += 8)
        {
            var e = Exp(Avx.Subtract(Avx.LoadVector256(s + i), shift));
            Avx.Store(s + i, e);
            sum = Avx.Add(sum, e);
        }
        float total = Vector256.Sum(sum);
        for (; i < n; i++)
        {
            s[i] = MathF.Exp(s[i] - max);
            total += s[i];
        }
        return total;
    }

    // exp(x) for float32 lanes, Cephes expf: x = n ln2 + r, |r| <= ln2/2, degree-7 polynomial, about 1 ulp.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Exp(Vector256<float> x)
    {
        x = Avx.Min(Avx.Max(x, Vector256.Create(-87.3f)), Vector256.Create(88.3f));
        var n = Avx.RoundToNearestInteger(Avx.Multiply(x, Vector256.Create(1.44269504088896341f)));
        x = Fma.MultiplyAddNegated(n, Vector256.Create(0.693359375f), x);
        x = Fma.MultiplyAddNegated(n, Vector256.Create(-2.12194440e-4f), x);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Fma.MultiplyAdd(p, x, Vector256.Create(1.3981999507e-3f));
        p = Fma.MultiplyAdd(p, x, Vector256.Create(8.3334519073e-3f));
        p = Fma.MultiplyAdd(p, x, Vector256.Create(4.1665795894e-2f));
        p = Fma.MultiplyAdd(p, x, Vector256.Create(1.6666665459e-1f));
        p = Fma.MultiplyAdd(p, x, Vector256.Create(5.0000001201e-1f));
        p = Fma.MultiplyAdd(p, Avx.Multiply(x, x), Avx.Add(x, Vector256.Create(1f)));
        var pow2n = Avx2.ShiftLeftLogical(Avx2.Add(Avx.ConvertToVector256Int32(n), Vector256.Create(127)),
            23).AsSingle();
        return Avx.Multiply(p, pow2n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rope(float* v, int heads, int headDim, float* cos, float* sin)
    {
        int half = headDim / 2;
        for (int h = 0; h < heads; h++, v += headDim)
        {
            int i = 0;
            if (Simd)
                for (; i + 8 <= half; i += 8)
                {
                    var x0 = Avx.LoadVector256(v + i);
                    var x1 = Avx.LoadVector256(v + half + i);
                    var c = Avx.LoadVector256(cos + i);
                    var s = Avx.LoadVector256(sin + i);
                    Avx.Store(v + i, Fma.MultiplyAddNegated(x1, s, Avx.Multiply(x0, c)));   // x0*c - x1*s
                    Avx.Store(v + half + i, Fma.MultiplyAdd(x0, s, Avx.Multiply(x1, c)));  // x1*c + x0*s
                }
            for (; i < half; i++)
            {
                float x0 = v[i], x1 = v[half + i];
                v[i] = x0 * cos[i] - x1 * sin[i];
                v[half + i] = x1 * cos[i] + x0 * sin[i];
            }
        }
    }

    /// <summary>
    /// One query head over n cached positions: out = softmax(q·k_t * scale) · v_t. keys/values point at the first
    /// position of this head's slice; consecutive positions are `stride` floats apart. scores: n floats of scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AttendHead(float* q, float* keys, float* values, int stride, int n, int headDim, float scale,
        float* scores, float* output) => AttendHead<Float32Kv>(q, keys, values, stride, n, headDim, scale, scores,
            output);

    // output[0..8·vectors) = scale · Σ_t scores[t] · values[t, v..], vectors 4, 6 or 8: that many independent
    // chains in one pass over the positions. Inlined with a constant `vectors`, so the unused chains vanish.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void WeightedValues<TKv>(float* scores, void* values, long v, int stride, int n, float* output,
        Vector256<float> scale, int vectors) where TKv : struct, IKvElements
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> a4 = default, a5 = default, a6 = default, a7 = default;
        for (int t = 0; t < n; t++, v += stride)
        {
            var p = Vector256.Create(scores[t]);
            a0 = Fma.MultiplyAdd(p, TKv.Load8(values, v), a0);
            a1 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 8), a1);
            a2 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 16), a2);
            a3 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 24), a3);
            if (vectors > 4)
            {
                a4 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 32), a4);
                a5 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 40), a5);
            }
            if (vectors > 6)
            {
                a6 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 48), a6);
                a7 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 56), a7);
            }
        }
        Avx.Store(output, Avx.Multiply(a0, scale));
        Avx.Store(output + 8, Avx.Multiply(a1, scale));
        Avx.Store(output + 16, Avx.Multiply(a2, scale));
        Avx.Store(output + 24, Avx.Multiply(a3, scale));
        if (vectors > 4)
        {
            Avx.Store(output + 32, Avx.Multiply(a4, scale));
            Avx.Store(output + 40, Avx.Multiply(a5, scale));
        }
        if (vectors > 6)
        {
            Avx.Store(output + 48, Avx.Multiply(a6, scale));
            Avx.Store(output + 56, Avx.Multiply(a7, scale));
        }
    }

    /// <summary>The same over a cache of any element type (float32, bfloat16): stride and offsets count
    /// elements.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AttendHead<TKv>(float* q, void* keys, void* values, int stride, int n, int headDim, float scale,
        float* scores, float* output) where TKv : struct, IKvElements
    {
        if (Simd && headDim % 8 == 0)
        {
            int t = 0;
            // Every row's keys and values are its own (stream from memory at batch 16): fetch the keys two blocks of
            // 4 positions ahead and this block's values (read next), a cache line at a time.
            long blockBytes = 4L * stride * TKv.Bytes;
            byte* aheadKeys = (byte*)keys + 2 * blockBytes, aheadValues = (byte*)values;
            for (; t + 4 <= n; t += 4, aheadKeys += blockBytes, aheadValues += blockBytes)
            {
                for (long line = 0; line < blockBytes; line += 64)
                {
                    Sse.Prefetch0(aheadKeys + line);
                    Sse.Prefetch0(aheadValues + line);
                }
                long k0 = (long)t * stride, k1 = k0 + stride, k2 = k1 + stride, k3 = k2 + stride;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < headDim; i += 8)
                {
                    var qv = Avx.LoadVector256(q + i);
                    a0 = Fma.MultiplyAdd(qv, TKv.Load8(keys, k0 + i), a0);
                    a1 = Fma.MultiplyAdd(qv, TKv.Load8(keys, k1 + i), a1);
                    a2 = Fma.MultiplyAdd(qv, TKv.Load8(keys, k2 + i), a2);
                    a3 = Fma.MultiplyAdd(qv, TKv.Load8(keys, k3 + i), a3);
                }
                Sse.Store(scores + t, Sse.Multiply(Sum4(a0, a1, a2, a3), Vector128.Create(scale)));
            }
            for (; t < n; t++)
            {
                long k0 = (long)t * stride;
                Vector256<float> a0 = default;
                for (int i = 0; i < headDim; i += 8)
                    a0 = Fma.MultiplyAdd(Avx.LoadVector256(q + i), TKv.Load8(keys, k0 + i), a0);
                scores[t] = Vector256.Sum(a0) * scale;
            }
        }
        else
        {
            for (int t = 0; t < n; t++)
            {
                float dot = 0;
                for (int i = 0; i < headDim; i++)
                    dot += q[i] * TKv.Get(keys, (long)t * stride + i);
                scores[t] = dot * scale;
            }
        }

        float inv = 1f / ExpShifted(scores, n);

        if (Simd && headDim % 8 == 0)
        {
            // Slices of 64, 48 or 32 dimensions (8, 6 or 4 independent chains), positions in the inner loop: each
            // value row is read once per slice and each weight broadcast once; every output's FMAs run in position
            // order whatever the slicing.
            var vinv = Vector256.Create(inv);
            int i = 0;
            for (; i + 64 <= headDim; i += 64)
                WeightedValues<TKv>(scores, values, i, stride, n, output + i, vinv, vectors: 8);
            if (i + 48 == headDim)
            {
                WeightedValues<TKv>(scores, values, i, stride, n, output + i, vinv, vectors: 6);
                i += 48;
            }
            for (; i + 32 <= headDim; i += 32)
                WeightedValues<TKv>(scores, values, i, stride, n, output + i, vinv, vectors: 4);
            for (; i + 16 <= headDim; i += 16)
            {
                long v = i;
                Vector256<float> a0 = default, a1 = default;
                for (int t = 0; t < n; t++, v += stride)
                {
                    var p = Vector256.Create(scores[t]);
                    a0 = Fma.MultiplyAdd(p, TKv.Load8(values, v), a0);
                    a1 = Fma.MultiplyAdd(p, TKv.Load8(values, v + 8), a1);
                }
                Avx.Store(output + i, Avx.Multiply(a0, vinv));
                Avx.Store(output + i + 8, Avx.Multiply(a1, vinv));
            }
            for (; i < headDim; i += 8)
            {
                long v = i;
                Vector256<float> a0 = default;
                for (int t = 0; t < n; t++, v += stride)
                    a0 = Fma.MultiplyAdd(Vector256.Create(scores[t]), TKv.Load8(values, v), a0);
                Avx.Store(output + i, Avx.Multiply(a0, vinv));
            }
        }
        else
        {
            for (int i = 0; i < headDim; i++)
            {
                float sum = 0;
                for (int t = 0; t < n; t++)
                    sum += scores[t] * TKv.Get(values, (long)t * stride + i);
                output[i] = sum * inv;
            }
        }
    }
}

/// <summary>How a KV cache's elements load as float32: 8 at a time for the SIMD loops, one for the reference
/// loop.</summary>
internal unsafe interface IKvElements
{
    static abstract Vector256<float> Load8(void* p, long index);
    static abstract float Get(void* p, long index);
    static abstract int Bytes { get; }
}

internal readonly unsafe struct Float32Kv : IKvElements
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(void* p, long index) => Avx.LoadVector256((float*)p + index);
    public static float Get(void* p, long index) => ((float*)p)[index];
    public static int Bytes => 4;
}

/// <summary>bfloat16: the high half of a float32, so widening is a shift; half the bytes of a float32 cache to
/// stream.</summary>
internal readonly unsafe struct BFloat16Kv : IKvElements
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(void* p, long index) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p + index), 16).AsSingle();
    public static float Get(void* p, long index) => BitConverter.Int32BitsToSingle(((ushort*)p)[index] << 16);
    public static int Bytes => 2;

    /// <summary>Rounds n float32 values to bfloat16 (nearest, ties to even; NaN stays NaN).</summary>
    public static void Store(float* source, ushort* destination, int n) => Bf16Kernels.Round(source, destination, n);
}
