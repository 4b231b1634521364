// int8 weights times int8 activations (W8A8, the int8-activations option): each matrix row r as round(w / s_r) in
// [-127, 127] (one scale per output channel) and each activation row b quantized on the fly as round(x / t_b) with
// t_b = max|x_b| / 127, shifted by +128 to unsigned. AVX-VNNI's VPDPBUSD multiplies 4 unsigned by 4 signed bytes and
// adds them into each 32-bit lane, so one instruction does 32 multiply-adds; the shift comes back out exactly with the
// row sums of the weights: y_br = s_r · t_b · (Σ_i (x'_bi) q_ri − 128 · Σ_i q_ri). Sums are exact integers, so a row's
// result does not depend on its batch. Layout: panels of 8 rows; per group of 4 inputs, the 8 rows' 4 bytes side by
// side (32 bytes, one load).
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

internal static unsafe class VnniKernels
{
    public static readonly bool Supported = AvxVnni.IsSupported && Avx2.IsSupported;

    public static long Index(int k, int r, int i) => (long)(r / 8) * 8 * k + (long)(i / 4) * 32 + (r % 8) * 4 + i % 4;

    /// <summary>Activation rows to unsigned bytes (x / t + 128) with one scale t per row; k a multiple of 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void QuantizeRows(float* x, int xStride, int batch, int k, byte* xq, float* scales)
    {
        for (int b = 0; b < batch; b++)
        {
            float* row = x + (long)b * xStride;
            byte* dst = xq + (long)b * k;
            float max = 0;
            int i = 0;
            if (Avx.IsSupported && k >= 8)
            {
                var vmax = Vector256<float>.Zero;
                var abs = Vector256.Create(0x7FFFFFFF).AsSingle();
                for (; i + 8 <= k; i += 8)
                    vmax = Avx.Max(vmax, Avx.And(Avx.LoadVector256(row + i), abs));
                for (int j = 0; j < 8; j++)
                    max = MathF.Max(max, vmax.GetElement(j));
            }
            for (; i < k; i++)
                max = MathF.Max(max, MathF.Abs(row[i]));
            float scale = max == 0 ? 1f : max / 127f, inv = 1f / scale;
            scales[b] = scale;
            for (i = 0; i < k; i++)
                dst[i] = (byte)((int)MathF.Round(row[i] * inv) + 128);
        }
    }

    /// <summary>
    /// y[b, r] = s_r · t_b · (Σ x'q − 128 Σ q) (+ bias) for rows [rowStart, rowEnd) (multiples of 8); y needs room for
    /// whole panels of 8 in its stride.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(sbyte* w, float* scales, int* rowSums, int k, int rowStart, int rowEnd, byte* xq,
        float* xScales, int batch,
        float* y, int yStride, float* bias)
    {
        if (!Supported)
        {
            for (int r = rowStart; r < rowEnd; r++)
                for (int b = 0; b < batch; b++)
                {
                    long sum = 0;
                    for (int i = 0; i < k; i++)
                        sum += (long)xq[(long)b * k + i] * w[Index(k, r, i)];
                    y[(long)b * yStride + r] = (sum - 128L * rowSums[r]) * scales[r] * xScales[b] + (bias == null
                        ? 0f : bias[r]);
                }
            return;
        }
        for (int r = rowStart; r < rowEnd; r += 8)
        {
            sbyte* panel = w + (long)r * k;
            var correction = Avx2.MultiplyLow(Avx.LoadVector256(rowSums + r), Vector256.Create(128));
            var s = Avx.LoadVector256(scales + r);
            var bv = bias == null ? Vector256<float>.Zero : Avx.LoadVector256(bias + r);
            int b = 0;
            for (; b + 8 <= batch; b += 8)
                Block8x8(panel, k, xq + (long)b * k, xScales + b, y + (long)b * yStride + r, yStride, correction, s,
                    bv);
            for (; b + 4 <= batch; b += 4)
                Block8x4(panel, k, xq + (long)b * k, xScales + b, y + (long)b * yStride + r, yStride, correction, s,
                    bv);
            for (; b < batch; b++)
                Block8x1(panel, k, xq + (long)b * k, xScales + b, y + (long)b * yStride + r, correction, s, bv);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<byte> Quad(byte* x) => Vector256.Create(*(int*)x).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(float* y, Vector256<int> acc, Vector256<int> correction, Vector256<float> scales, float xScale,
        Vector256<float> bias) =>
        Avx.Store(y, Fma.MultiplyAdd(Avx.ConvertToVector256Single(Avx2.Subtract(acc, correction)),
            Avx.Multiply(scales, Vector256.Create(xScale)), bias));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block8x1(sbyte* w, int k, byte* x, float* xs, float* y, Vector256<int> correction, Vector256<float> s,
        Vector256<float> bias)
    {
        Vector256<int> a = default;
        for (int g = 0; g < k; g += 4, w += 32)
            a = AvxVnni.MultiplyWideningAndAdd(a, Quad(x + g), Avx.LoadVector256(w));
        Store(y, a, correction, s, xs[0], bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block8x4(sbyte* w, int k, byte* x, float* xs, float* y, int yStride, Vector256<int> correction,
        Vector256<float> s, Vector256<float> bias)
    {
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        byte* x1 = x + k, x2 = x1 + k, x3 = x2 + k;
        for (int g = 0; g < k; g += 4, w += 32)
        {
            var v = Avx.LoadVector256(w);
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, Quad(x + g), v);
            a1 = AvxVnni.MultiplyWideningAndAdd(a1, Quad(x1 + g), v);
            a2 = AvxVnni.MultiplyWideningAndAdd(a2, Quad(x2 + g), v);
            a3 = AvxVnni.MultiplyWideningAndAdd(a3, Quad(x3 + g), v);
        }
        Store(y, a0, correction, s, xs[0], bias);
        Store(y + yStride, a1, correction, s, xs[1], bias);
        Store(y + 2 * yStride, a2, correction, s, xs[2], bias);
        Store(y + 3 * yStride, a3, correction, s, xs[3], bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block8x8(sbyte* w, int k, byte* x, float* xs, float* y, int yStride, Vector256<int> correction,
        Vector256<float> s, Vector256<float> bias)
    {
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default;
        byte* x1 = x + k, x2 = x1 + k, x3 = x2 + k, x4 = x3 + k, x5 = x4 + k, x6 = x5 + k, x7 = x6 + k;
        for (int g = 0; g < k; g += 4, w += 32)
        {
            var v = Avx.LoadVector256(w);
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, Quad(x + g), v);
            a1 = AvxVnni.MultiplyWideningAndAdd(a1, Quad(x1 + g), v);
            a2 = AvxVnni.MultiplyWideningAndAdd(a2, Quad(x2 + g), v);
            a3 = AvxVnni.MultiplyWideningAndAdd(a3, Quad(x3 + g), v);
            a4 = AvxVnni.MultiplyWideningAndAdd(a4, Quad(x4 + g), v);
            a5 = AvxVnni.MultiplyWideningAndAdd(a5, Quad(x5 + g), v);
            a6 = AvxVnni.MultiplyWideningAndAdd(a6, Quad(x6 + g), v);
            a7 = AvxVnni.MultiplyWideningAndAdd(a7, Quad(x7 + g), v);
        }
        Store(y, a0, correction, s, xs[0], bias);
        Store(y + yStride, a1, correction, s, xs[1], bias);
        Store(y + 2 * yStride, a2, correction, s, xs[2], bias);
        Store(y + 3 * yStride, a3, correction, s, xs[3], bias);
        Store(y + 4 * yStride, a4, correction, s, xs[4], bias);
        Store(y + 5 * yStride, a5, correction, s, xs[5], bias);
        Store(y + 6 * yStride, a6, correction, s, xs[6], bias);
        Store(y + 7 * yStride, a7, correction, s, xs[7], bias);
    }
}
