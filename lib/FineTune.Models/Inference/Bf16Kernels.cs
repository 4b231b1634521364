// bfloat16 products for CpuLlama: weights as a bf16 checkpoint stores them (the high half of a float32), activations
// rounded to bf16 once per product, float32 accumulation — what vdpbf16ps computes. With AVX512_BF16 the C kernel
// (Native/bf16_matmul.c, see Bf16Native) runs it; without, the managed kernels below compute the very same bits:
//
//   each output is one float32 sum over its input pairs in order: acc += w[2i+1] x[2i+1], then acc += w[2i] x[2i],
//   each rounded once (a bf16 product is exact in float32, so each step is one FMA), then + bias.
//
// Weights lie in blocks of 16 rows (PanelMatrix.BFloat16): pair after pair, a pair's 16 rows in one 64-byte line, so a
// vector holds 16 outputs' pairs and the AMX kernel loads 16 pairs of a block as one tile. Every path and register
// blocking keeps that one sequence per output, so all paths agree bit for bit, and a row's output is the same whatever
// else is in the batch. (vdpbf16ps also flushes subnormal inputs and results to zero; only values below 2^-126 could
// tell the paths apart.)
//
// Where the CPU has AMX-BF16 the AMX kernel runs instead, for every batch: its tile instruction sums 16 pairs its own
// way, so its bits are its own (within bf16's rounding of the others), and batch-invariant in the same way.
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

/// <summary>How a bf16 product is computed: the same bits each way but Amx's, which are its own.</summary>
internal enum Bf16Path { Reference, Avx2, Native, Amx }

internal static unsafe class Bf16Kernels
{
    /// <summary>The fastest path this machine has.</summary>
    public static readonly Bf16Path Best = Bf16Native.AmxAvailable ? Bf16Path.Amx
        : Bf16Native.Available ? Bf16Path.Native
        : CpuKernels.Simd ? Bf16Path.Avx2
        : Bf16Path.Reference;

    /// <summary>Every path this machine can run (tests compare them).</summary>
    public static IReadOnlyList<Bf16Path> Paths { get; } = Enum.GetValues<Bf16Path>().Where(p => p switch
    {
        Bf16Path.Amx => Bf16Native.AmxAvailable,
        Bf16Path.Native => Bf16Native.Available,
        Bf16Path.Avx2 => CpuKernels.Simd,
        _ => true,
    }).ToArray();

    /// <summary>y[b, r] = dot(w[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd) (multiples of 16), w bf16 blocks
    /// (PanelMatrix.BFloat16; k a multiple of 32), x bf16 activation rows (see <see cref="RoundRows"/>); layout as
    /// CpuKernels.MatMul.</summary>
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
            case Bf16Path.Amx:
                Bf16Native.AmxMatMul(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
                return;
            case Bf16Path.Native:
                Bf16Native.MatMul(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
                return;
            case Bf16Path.Avx2:
                Managed(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
                return;
            default:
                for (int r = rowStart; r < rowEnd; r++)
                    for (int b = 0; b < batch; b++)
                        y[(long)b * yStride + r] = Dot(w, k, r, x + (long)b * xStride, bias == null ? null : bias + r);
                return;
        }
    }

    // Groups of 4 blocks (64 rows): 4 activation rows per block, the rows left over 4 blocks at a time (independent
    // chains: one output's FMAs depend on each other); then single blocks.
    static void Managed(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch, float* y,
        int yStride, float* bias)
    {
        for (int r = rowStart; r < rowEnd;)
        {
            int blocks = r + 64 <= rowEnd ? 4 : 1;
            int b = 0;
            for (; b + 4 <= batch; b += 4)
                for (int j = 0; j < blocks; j++)
                {
                    int first = r + 16 * j;
                    Block1x4(w + (long)first * k, k, x + (long)b * xStride, xStride, y + (long)b * yStride + first,
                        yStride, bias == null ? null : bias + first);
                }
            for (; b < batch; b++)
            {
                ushort* xb = x + (long)b * xStride;
                float* yb = y + (long)b * yStride + r;
                float* br = bias == null ? null : bias + r;
                if (blocks == 4)
                    Block4x1(w + (long)r * k, k, xb, yb, br);
                else
                    Block1x1(w + (long)r * k, k, xb, yb, br);
            }
            r += 16 * blocks;
        }
    }

    // The sequence in the header, one value at a time.
    static float Dot(ushort* w, int k, int r, ushort* x, float* bias)
    {
        float acc = 0;
        for (int i = 0; i < k; i += 2)
        {
            acc = MathF.FusedMultiplyAdd(ToFloat(w[PanelMatrix.Bf16Index(k, r, i + 1)]), ToFloat(x[i + 1]), acc);
            acc = MathF.FusedMultiplyAdd(ToFloat(w[PanelMatrix.Bf16Index(k, r, i)]), ToFloat(x[i]), acc);
        }
        return bias == null ? acc : acc + *bias;
    }

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


    // AVX2: a block's 16 outputs are two 256-bit halves; a dword (weights or activations) splits into its odd (high)
    // and even (low) bf16 halves as float32.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Odd(Vector256<uint> v) => (v & Vector256.Create(0xFFFF0000u)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Even(Vector256<uint> v) => Avx2.ShiftLeftLogical(v, 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, Vector256<float> wOdd, Vector256<float> wEven,
        Vector256<float> xOdd, Vector256<float> xEven) =>
        Fma.MultiplyAdd(wEven, xEven, Fma.MultiplyAdd(wOdd, xOdd, acc));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Step(Vector256<float> acc, ushort* w, Vector256<float> xOdd, Vector256<float> xEven)
    {
        var wv = Avx.LoadVector256((uint*)w);
        return Step(acc, Odd(wv), Even(wv), xOdd, xEven);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<uint> Pair(ushort* x) => Vector256.Create(*(uint*)x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* y, Vector256<float> lo, Vector256<float> hi, float* bias)
    {
        if (bias != null)
        {
            lo += Avx.LoadVector256(bias);
            hi += Avx.LoadVector256(bias + 8);
        }
        lo.Store(y);
        hi.Store(y + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block1x1(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        Vector256<float> lo = default, hi = default;
        for (int i = 0; i < k; i += 2, w += 32)
        {
            var u = Pair(x + i);
            Vector256<float> xOdd = Odd(u), xEven = Even(u);
            lo = Step(lo, w, xOdd, xEven);
            hi = Step(hi, w + 16, xOdd, xEven);
        }
        Store(y, lo, hi, bias);
    }

    // Four blocks (64 rows), one activation row.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1(ushort* w, int k, ushort* x, float* y, float* bias)
    {
        long block = 16L * k;
        Vector256<float> lo0 = default, hi0 = default, lo1 = default, hi1 = default;
        Vector256<float> lo2 = default, hi2 = default, lo3 = default, hi3 = default;
        for (int i = 0; i < k; i += 2, w += 32)
        {
            var u = Pair(x + i);
            Vector256<float> xOdd = Odd(u), xEven = Even(u);
            lo0 = Step(lo0, w, xOdd, xEven);
            hi0 = Step(hi0, w + 16, xOdd, xEven);
            lo1 = Step(lo1, w + block, xOdd, xEven);
            hi1 = Step(hi1, w + block + 16, xOdd, xEven);
            lo2 = Step(lo2, w + 2 * block, xOdd, xEven);
            hi2 = Step(hi2, w + 2 * block + 16, xOdd, xEven);
            lo3 = Step(lo3, w + 3 * block, xOdd, xEven);
            hi3 = Step(hi3, w + 3 * block + 16, xOdd, xEven);
        }
        Store(y, lo0, hi0, bias);
        Store(y + 16, lo1, hi1, bias == null ? null : bias + 16);
        Store(y + 32, lo2, hi2, bias == null ? null : bias + 32);
        Store(y + 48, lo3, hi3, bias == null ? null : bias + 48);
    }

    // One block, four activation rows.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block1x4(ushort* w, int k, ushort* x, int xStride, float* y, int yStride, float* bias)
    {
        Vector256<float> lo0 = default, hi0 = default, lo1 = default, hi1 = default;
        Vector256<float> lo2 = default, hi2 = default, lo3 = default, hi3 = default;
        for (int i = 0; i < k; i += 2, w += 32)
        {
            Vector256<uint> w0 = Avx.LoadVector256((uint*)w), w1 = Avx.LoadVector256((uint*)w + 8);
            Vector256<float> odd0 = Odd(w0), even0 = Even(w0), odd1 = Odd(w1), even1 = Even(w1);
            ushort* xi = x + i;
            var u = Pair(xi);
            Vector256<float> xOdd = Odd(u), xEven = Even(u);
            lo0 = Step(lo0, odd0, even0, xOdd, xEven);
            hi0 = Step(hi0, odd1, even1, xOdd, xEven);
            u = Pair(xi + xStride);
            (xOdd, xEven) = (Odd(u), Even(u));
            lo1 = Step(lo1, odd0, even0, xOdd, xEven);
            hi1 = Step(hi1, odd1, even1, xOdd, xEven);
            u = Pair(xi + 2 * xStride);
            (xOdd, xEven) = (Odd(u), Even(u));
            lo2 = Step(lo2, odd0, even0, xOdd, xEven);
            hi2 = Step(hi2, odd1, even1, xOdd, xEven);
            u = Pair(xi + 3 * xStride);
            (xOdd, xEven) = (Odd(u), Even(u));
            lo3 = Step(lo3, odd0, even0, xOdd, xEven);
            hi3 = Step(hi3, odd1, even1, xOdd, xEven);
        }
        Store(y, lo0, hi0, bias);
        Store(y + yStride, lo1, hi1, bias);
        Store(y + 2 * yStride, lo2, hi2, bias);
        Store(y + 3 * yStride, lo3, hi3, bias);
    }
}
