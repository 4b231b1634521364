// bfloat16 products for CpuLlama: weights as a bf16 checkpoint stores them (the high half of a float32), activations
// rounded to bf16 once per product, float32 accumulation — what vdpbf16ps computes. With AVX512_BF16 the C kernel
// (Native/bf16_matmul.c, see Bf16Native) runs it; without, the managed kernels below compute the very same bits:
//
//   lane j of a (4-row panel, activation row) accumulator holds row j / 4's input pair j % 4; for each group of 8
//   inputs, in order: lane j += w[2j+1] x[2j+1], then lane j += w[2j] x[2j], each rounded once (a bf16 product is
//   exact in float32, so each step is one FMA of the odd or even halves); a row's output is (l0 + l1) + (l2 + l3) over
//   its four lanes, plus the bias.
//
// Every path and every register blocking keeps that sequence per accumulator, so the native, 512-bit, 256-bit and
// reference paths agree bit for bit, and a row's output is the same whatever else is in the batch. (vdpbf16ps also
// flushes subnormal inputs and results to zero; only values below 2^-126 could tell the paths apart.)
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

/// <summary>How a bf16 product is computed: the same bits each way.</summary>
internal enum Bf16Path { Reference, Avx2, Avx512, Native }

internal static unsafe class Bf16Kernels
{
    /// <summary>The fastest path this machine has.</summary>
    public static readonly Bf16Path Best = Bf16Native.Available ? Bf16Path.Native
        : CpuKernels.Simd512 ? Bf16Path.Avx512
        : CpuKernels.Simd ? Bf16Path.Avx2
        : Bf16Path.Reference;

    /// <summary>Every path this machine can run (tests compare them).</summary>
    public static IReadOnlyList<Bf16Path> Paths { get; } = Enum.GetValues<Bf16Path>().Where(p => p switch
    {
        Bf16Path.Native => Bf16Native.Available,
        Bf16Path.Avx512 => CpuKernels.Simd512,
        Bf16Path.Avx2 => CpuKernels.Simd,
        _ => true,
    }).ToArray();

    /// <summary>y[b, r] = dot(w[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd) (multiples of 4), w bf16 panels
    /// (PanelMatrix), x bf16 activation rows (see <see cref="RoundRows"/>); layout as CpuKernels.MatMul.</summary>
    public static void MatMul(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch, float* y,
        int yStride, float* bias) =>
        MatMul(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias, Best);

    /// <summary>The same through a chosen path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void MatMul(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch,
        float* y, int yStride, float* bias, Bf16Path path)
    {
        switch (path)
        {
            case Bf16Path.Native:
                Bf16Native.MatMul(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
                return;
            case Bf16Path.Avx512:
            case Bf16Path.Avx2:
                Managed(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias, path == Bf16Path.Avx512);
                return;
            default:
                for (int r = rowStart; r < rowEnd; r++)
                    for (int b = 0; b < batch; b++)
                        y[(long)b * yStride + r] = Dot(w, k, r, x + (long)b * xStride, bias == null ? null : bias + r);
                return;
        }
    }

    // Blocks of 8 and 4 activation rows per panel, then the rows left over 4 panels at a time (independent chains:
    // one row's FMAs depend on each other).
    static void Managed(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch, float* y,
        int yStride, float* bias, bool wide)
    {
        for (int r = rowStart; r < rowEnd;)
        {
            int panels = r + 16 <= rowEnd ? 4 : 1;
            int tail = 0;
            for (int p = 0; p < panels; p++, r += 4)
            {
                ushort* panel = w + (long)r * k;
                float* br = bias == null ? null : bias + r;
                int b = 0;
                for (; wide && b + 8 <= batch; b += 8)
                    Block4x8(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                for (; b + 4 <= batch; b += 4)
                    if (wide)
                        Block4x4(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                    else
                        Block4x4Avx2(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride,
                            br);
                tail = b;
            }
            int first = r - 4 * panels;
            for (int b = tail; b < batch; b++)
            {
                ushort* panel = w + (long)first * k;
                float* br = bias == null ? null : bias + first;
                float* yb = y + (long)b * yStride + first;
                if (panels == 1)
                {
                    if (wide)
                        Block4x1(panel, k, x + (long)b * xStride, yb, br);
                    else
                        Block4x1Avx2(panel, k, x + (long)b * xStride, yb, br);
                }
                else if (wide)
                    Block16x1(panel, k, x + (long)b * xStride, yb, br);
                else
                    Block16x1Avx2(panel, k, x + (long)b * xStride, yb, br);
            }
        }
    }

    // The sequence in the header, one value at a time.
    static float Dot(ushort* w, int k, int r, ushort* x, float* bias)
    {
        float l0 = 0, l1 = 0, l2 = 0, l3 = 0;
        for (int g = 0; g < k; g += 8)
        {
            ushort* p = w + PanelMatrix.PanelIndex(k, r, g);
            ushort* q = x + g;
            l0 = Pair(p, q, 0, l0);
            l1 = Pair(p, q, 2, l1);
            l2 = Pair(p, q, 4, l2);
            l3 = Pair(p, q, 6, l3);
        }
        float sum = (l0 + l1) + (l2 + l3);
        return bias == null ? sum : sum + *bias;
    }

    static float Pair(ushort* w, ushort* x, int i, float lane) => MathF.FusedMultiplyAdd(ToFloat(w[i]), ToFloat(x[i]),
        MathF.FusedMultiplyAdd(ToFloat(w[i + 1]), ToFloat(x[i + 1]), lane));

    /// <summary>A bfloat16 value as float32 (exact).</summary>
    public static float ToFloat(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    /// <summary>float32 rounded to bfloat16 as checkpoints are written (nearest, ties to even).</summary>
    public static ushort FromFloat(float value) => FineTune.Models.Checkpoints.DTypes.ToBFloat16(value);

    /// <summary>Rounds rows [0, rows) of x (k values each, stride xStride) to bfloat16 into dst (the same stride), as
    /// <see cref="FromFloat"/> does.</summary>
    public static void RoundRows(float* x, int xStride, int rows, int k, ushort* dst)
    {
        for (int b = 0; b < rows; b++)
            Round(x + (long)b * xStride, dst + (long)b * xStride, k);
    }

    /// <summary>n float32 values rounded to bfloat16 (nearest, ties to even; NaN stays NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Round(float* source, ushort* destination, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var one = Vector256.Create(1u);
            var half = Vector256.Create(0x7FFFu);
            var quiet = Vector256.Create(0x40u);
            var exponent = Vector256.Create(0x7F800000u);
            var magnitude = Vector256.Create(0x7FFFFFFFu);
            for (; i + 16 <= n; i += 16)
            {
                var lo = RoundBits(Vector256.Load((uint*)source + i), one, half, quiet, exponent, magnitude);
                var hi = RoundBits(Vector256.Load((uint*)source + i + 8), one, half, quiet, exponent, magnitude);
                Vector256.Narrow(lo, hi).Store(destination + i);
            }
        }
        for (; i < n; i++)
            destination[i] = FromFloat(source[i]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> RoundBits(Vector256<uint> bits, Vector256<uint> one, Vector256<uint> half,
        Vector256<uint> quiet, Vector256<uint> exponent, Vector256<uint> magnitude)
    {
        var rounded = Vector256.ShiftRightLogical(bits + half + (Vector256.ShiftRightLogical(bits, 16) & one), 16);
        var nan = Vector256.GreaterThan(bits & magnitude, exponent);
        return Vector256.ConditionalSelect(nan, Vector256.ShiftRightLogical(bits, 16) | quiet, rounded);
    }

    // AVX-512 without AVX512_BF16: 16 dwords of weights (a panel's group of 8 inputs) and 4 dwords of activations
    // (broadcast), split into their odd (high) and even (low) bf16 halves as float32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Odd(Vector512<uint> v) => (v & Vector512.Create(0xFFFF0000u)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Even(Vector512<uint> v) => Avx512F.ShiftLeftLogical(v, 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Step(Vector512<float> acc, Vector512<float> wOdd, Vector512<float> wEven, ushort* x) =>
        Step(acc, wOdd, wEven, Avx512F.BroadcastVector128ToVector512((uint*)x));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Step(Vector512<float> acc, Vector512<float> wOdd, Vector512<float> wEven,
        Vector512<uint> x) =>
        Avx512F.FusedMultiplyAdd(wEven, Even(x), Avx512F.FusedMultiplyAdd(wOdd, Odd(x), acc));

    // The four rows' (l0 + l1) + (l2 + l3), as the C kernel's store4 adds them.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* y, Vector256<float> lo, Vector256<float> hi, float* bias)
    {
        var pairs = Avx.HorizontalAdd(lo, hi);
        var rows = Avx.HorizontalAdd(pairs, pairs);
        var sums = Sse.UnpackLow(rows.GetLower(), rows.GetUpper());
        if (bias != null)
            sums = Sse.Add(sums, Sse.LoadVector128(bias));
        Sse.Store(y, sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* y, Vector512<float> acc, float* bias) => Store4(y, acc.GetLower(), acc.GetUpper(), bias);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        Vector512<float> a0 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var wv = Avx512F.LoadVector512((uint*)w);
            a0 = Step(a0, Odd(wv), Even(wv), x + i);
        }
        Store4(y, a0, bias);
    }

    // Four panels (16 rows), one activation row.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block16x1(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        long panel = 4L * k;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Avx512F.BroadcastVector128ToVector512((uint*)(x + i));
            Vector512<uint> w0 = Avx512F.LoadVector512((uint*)w), w1 = Avx512F.LoadVector512((uint*)(w + panel));
            Vector512<uint> w2 = Avx512F.LoadVector512((uint*)(w + 2 * panel));
            Vector512<uint> w3 = Avx512F.LoadVector512((uint*)(w + 3 * panel));
            a0 = Step(a0, Odd(w0), Even(w0), u);
            a1 = Step(a1, Odd(w1), Even(w1), u);
            a2 = Step(a2, Odd(w2), Even(w2), u);
            a3 = Step(a3, Odd(w3), Even(w3), u);
        }
        Store4(y, a0, bias);
        Store4(y + 4, a1, bias == null ? null : bias + 4);
        Store4(y + 8, a2, bias == null ? null : bias + 8);
        Store4(y + 12, a3, bias == null ? null : bias + 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4(ushort* w, int k, ushort* x, int xStride, float* y, int yStride, float* bias)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var wv = Avx512F.LoadVector512((uint*)w);
            Vector512<float> odd = Odd(wv), even = Even(wv);
            ushort* xi = x + i;
            a0 = Step(a0, odd, even, xi);
            a1 = Step(a1, odd, even, xi + xStride);
            a2 = Step(a2, odd, even, xi + 2 * xStride);
            a3 = Step(a3, odd, even, xi + 3 * xStride);
        }
        Store4(y, a0, bias);
        Store4(y + yStride, a1, bias);
        Store4(y + 2 * yStride, a2, bias);
        Store4(y + 3 * yStride, a3, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x8(ushort* w, int k, ushort* x, int xStride, float* y, int yStride, float* bias)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var wv = Avx512F.LoadVector512((uint*)w);
            Vector512<float> odd = Odd(wv), even = Even(wv);
            ushort* xi = x + i;
            a0 = Step(a0, odd, even, xi);
            a1 = Step(a1, odd, even, xi + xStride);
            a2 = Step(a2, odd, even, xi + 2 * xStride);
            a3 = Step(a3, odd, even, xi + 3 * xStride);
            a4 = Step(a4, odd, even, xi + 4 * xStride);
            a5 = Step(a5, odd, even, xi + 5 * xStride);
            a6 = Step(a6, odd, even, xi + 6 * xStride);
            a7 = Step(a7, odd, even, xi + 7 * xStride);
        }
        Store4(y, a0, bias);
        Store4(y + yStride, a1, bias);
        Store4(y + 2 * yStride, a2, bias);
        Store4(y + 3 * yStride, a3, bias);
        Store4(y + 4 * yStride, a4, bias);
        Store4(y + 5 * yStride, a5, bias);
        Store4(y + 6 * yStride, a6, bias);
        Store4(y + 7 * yStride, a7, bias);
    }

    // AVX2: an accumulator is two 256-bit halves (rows 0-1, rows 2-3) with the same lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Odd(Vector256<uint> v) => (v & Vector256.Create(0xFFFF0000u)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Even(Vector256<uint> v) => Avx2.ShiftLeftLogical(v, 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, Vector256<float> wOdd, Vector256<float> wEven,
        Vector256<uint> x) =>
        Fma.MultiplyAdd(wEven, Even(x), Fma.MultiplyAdd(wOdd, Odd(x), acc));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Broadcast(ushort* x) => Avx2.BroadcastVector128ToVector256((uint*)x);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1Avx2(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        Vector256<float> lo = default, hi = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            Vector256<uint> w0 = Avx.LoadVector256((uint*)w), w1 = Avx.LoadVector256((uint*)w + 8);
            var u = Broadcast(x + i);
            lo = Step(lo, Odd(w0), Even(w0), u);
            hi = Step(hi, Odd(w1), Even(w1), u);
        }
        Store4(y, lo, hi, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block16x1Avx2(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        long panel = 4L * k;
        Vector256<float> lo0 = default, hi0 = default, lo1 = default, hi1 = default;
        Vector256<float> lo2 = default, hi2 = default, lo3 = default, hi3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Broadcast(x + i);
            lo0 = Half(lo0, w, u);
            hi0 = Half(hi0, w + 16, u);
            lo1 = Half(lo1, w + panel, u);
            hi1 = Half(hi1, w + panel + 16, u);
            lo2 = Half(lo2, w + 2 * panel, u);
            hi2 = Half(hi2, w + 2 * panel + 16, u);
            lo3 = Half(lo3, w + 3 * panel, u);
            hi3 = Half(hi3, w + 3 * panel + 16, u);
        }
        Store4(y, lo0, hi0, bias);
        Store4(y + 4, lo1, hi1, bias == null ? null : bias + 4);
        Store4(y + 8, lo2, hi2, bias == null ? null : bias + 8);
        Store4(y + 12, lo3, hi3, bias == null ? null : bias + 12);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Half(Vector256<float> acc, ushort* w, Vector256<uint> x)
    {
        var wv = Avx.LoadVector256((uint*)w);
        return Step(acc, Odd(wv), Even(wv), x);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4Avx2(ushort* w, int k, ushort* x, int xStride, float* y, int yStride, float* bias)
    {
        Vector256<float> lo0 = default, hi0 = default, lo1 = default, hi1 = default;
        Vector256<float> lo2 = default, hi2 = default, lo3 = default, hi3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            Vector256<uint> w0 = Avx.LoadVector256((uint*)w), w1 = Avx.LoadVector256((uint*)w + 8);
            Vector256<float> odd0 = Odd(w0), even0 = Even(w0), odd1 = Odd(w1), even1 = Even(w1);
            ushort* xi = x + i;
            var u = Broadcast(xi);
            lo0 = Step(lo0, odd0, even0, u);
            hi0 = Step(hi0, odd1, even1, u);
            u = Broadcast(xi + xStride);
            lo1 = Step(lo1, odd0, even0, u);
            hi1 = Step(hi1, odd1, even1, u);
            u = Broadcast(xi + 2 * xStride);
            lo2 = Step(lo2, odd0, even0, u);
            hi2 = Step(hi2, odd1, even1, u);
            u = Broadcast(xi + 3 * xStride);
            lo3 = Step(lo3, odd0, even0, u);
            hi3 = Step(hi3, odd1, even1, u);
        }
        Store4(y, lo0, hi0, bias);
        Store4(y + yStride, lo1, hi1, bias);
        Store4(y + 2 * yStride, lo2, hi2, bias);
        Store4(y + 3 * yStride, lo3, hi3, bias);
    }
}
