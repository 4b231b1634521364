// bfloat16 weights for CpuLlama: each matrix value is the high half of a float32 (what a bf16 checkpoint stores), in
// the same 4-row panel layout as the float32 kernels, so a product streams half the bytes. The values are widened to
// float32 in registers (a shift: exact) and go through the very FMA chains and reductions of the float32 kernels, so
// a bf16 model computes exactly what the float32 engine computes over the same bf16 values — on AVX-512 and AVX2
// alike, and whatever the batch. Activations, norms, attention and the KV cache stay float32. (.NET 10 has no
// AVX512_BF16 intrinsics; vdpbf16ps would also round the activations to bf16.)
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

internal static unsafe class Bf16Kernels
{
    /// <summary>y[b, r] = dot(w[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd), w bf16 panels; layout as
    /// CpuKernels.MatMul.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(ushort* w, int k, int rowStart, int rowEnd, float* x, int xStride, int batch, float* y,
        int yStride, float* bias) =>
        MatMul(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias,
            CpuKernels.Simd512 ? 512 : CpuKernels.Simd ? 256 : 0);

    /// <summary>The same with the instruction width chosen (512, 256 or 0 for the reference loop): tests compare
    /// them.</summary>
    internal static void MatMul(ushort* w, int k, int rowStart, int rowEnd, float* x, int xStride, int batch,
        float* y, int yStride, float* bias, int width)
    {
        if (width == 512)
        {
            for (int r = rowStart; r < rowEnd; r += 4)
            {
                ushort* panel = w + (long)r * k;
                float* br = bias == null ? null : bias + r;
                int b = 0;
                for (; b + 8 <= batch; b += 8)
                    Block4x8Wide(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                for (; b + 4 <= batch; b += 4)
                    Block4x4Wide(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                for (; b < batch; b++)
                    Block4x1Wide(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, br);
            }
            return;
        }
        if (width == 256)
        {
            for (int r = rowStart; r < rowEnd; r += 4)
            {
                ushort* panel = w + (long)r * k;
                float* br = bias == null ? null : bias + r;
                int b = 0;
                for (; b + 4 <= batch; b += 4)
                    Block4x4Avx2(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, br);
                for (; b < batch; b++)
                    Block4x1Avx2(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, br);
            }
            return;
        }
        for (int r = rowStart; r < rowEnd; r++)
            for (int b = 0; b < batch; b++)
            {
                float sum = 0;
                for (int i = 0; i < k; i++)
                    sum += ToFloat(w[PanelMatrix.PanelIndex(k, r, i / 8 * 8) + i % 8]) * x[(long)b * xStride + i];
                y[(long)b * yStride + r] = sum + (bias == null ? 0f : bias[r]);
            }
    }

    /// <summary>A bfloat16 value as float32 (exact).</summary>
    public static float ToFloat(ushort value) => BitConverter.Int32BitsToSingle(value << 16);

    /// <summary>float32 rounded to bfloat16 as checkpoints are written (nearest, ties to even).</summary>
    public static ushort FromFloat(float value) => FineTune.Models.Checkpoints.DTypes.ToBFloat16(value);

    // Rows 0-1 (16 values) or rows 2-3 of one group of 8 inputs, widened to float32 lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Widen(ushort* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(Avx.LoadVector256(p)), 16).AsSingle();

    // One row's 8 values, for the AVX2 path.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Widen8(ushort* p) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* y, Vector128<float> sums, float* bias)
    {
        if (bias != null)
            sums = Sse.Add(sums, Sse.LoadVector128(bias));
        Sse.Store(y, sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1Wide(ushort* w, int k, float* x, float* y, float* bias)
    {
        Vector512<float> a0 = default, b0 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v01 = Widen(w);
            var v23 = Widen(w + 16);
            var u = Avx512DQ.BroadcastVector256ToVector512(x + i);
            a0 = Avx512F.FusedMultiplyAdd(v01, u, a0);
            b0 = Avx512F.FusedMultiplyAdd(v23, u, b0);
        }
        Store4(y, CpuKernels.Sum4(a0, b0), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4Wide(ushort* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride;
        float* x2 = x1 + xStride;
        float* x3 = x2 + xStride;
        Vector512<float> a0 = default, b0 = default;
        Vector512<float> a1 = default, b1 = default;
        Vector512<float> a2 = default, b2 = default;
        Vector512<float> a3 = default, b3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v01 = Widen(w);
            var v23 = Widen(w + 16);
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
        Store4(y, CpuKernels.Sum4(a0, b0), bias);
        Store4(y + yStride, CpuKernels.Sum4(a1, b1), bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a2, b2), bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a3, b3), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x8Wide(ushort* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride;
        float* x2 = x1 + xStride;
        float* x3 = x2 + xStride;
        float* x4 = x3 + xStride;
        float* x5 = x4 + xStride;
        float* x6 = x5 + xStride;
        float* x7 = x6 + xStride;
        Vector512<float> a0 = default, b0 = default;
        Vector512<float> a1 = default, b1 = default;
        Vector512<float> a2 = default, b2 = default;
        Vector512<float> a3 = default, b3 = default;
        Vector512<float> a4 = default, b4 = default;
        Vector512<float> a5 = default, b5 = default;
        Vector512<float> a6 = default, b6 = default;
        Vector512<float> a7 = default, b7 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v01 = Widen(w);
            var v23 = Widen(w + 16);
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
            u = Avx512DQ.BroadcastVector256ToVector512(x4 + i);
            a4 = Avx512F.FusedMultiplyAdd(v01, u, a4);
            b4 = Avx512F.FusedMultiplyAdd(v23, u, b4);
            u = Avx512DQ.BroadcastVector256ToVector512(x5 + i);
            a5 = Avx512F.FusedMultiplyAdd(v01, u, a5);
            b5 = Avx512F.FusedMultiplyAdd(v23, u, b5);
            u = Avx512DQ.BroadcastVector256ToVector512(x6 + i);
            a6 = Avx512F.FusedMultiplyAdd(v01, u, a6);
            b6 = Avx512F.FusedMultiplyAdd(v23, u, b6);
            u = Avx512DQ.BroadcastVector256ToVector512(x7 + i);
            a7 = Avx512F.FusedMultiplyAdd(v01, u, a7);
            b7 = Avx512F.FusedMultiplyAdd(v23, u, b7);
        }
        Store4(y, CpuKernels.Sum4(a0, b0), bias);
        Store4(y + yStride, CpuKernels.Sum4(a1, b1), bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a2, b2), bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a3, b3), bias);
        Store4(y + 4 * yStride, CpuKernels.Sum4(a4, b4), bias);
        Store4(y + 5 * yStride, CpuKernels.Sum4(a5, b5), bias);
        Store4(y + 6 * yStride, CpuKernels.Sum4(a6, b6), bias);
        Store4(y + 7 * yStride, CpuKernels.Sum4(a7, b7), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1Avx2(ushort* w, int k, float* x, float* y, float* bias)
    {
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v0 = Widen8(w);
            var v1 = Widen8(w + 8);
            var v2 = Widen8(w + 16);
            var v3 = Widen8(w + 24);
            var u = Avx.LoadVector256(x + i);
            a00 = Fma.MultiplyAdd(v0, u, a00);
            a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u, a20);
            a30 = Fma.MultiplyAdd(v3, u, a30);
        }
        Store4(y, CpuKernels.Sum4(a00, a10, a20, a30), bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4Avx2(ushort* w, int k, float* x, int xStride, float* y, int yStride, float* bias)
    {
        float* x1 = x + xStride;
        float* x2 = x1 + xStride;
        float* x3 = x2 + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default;
        Vector256<float> a01 = default, a11 = default, a21 = default, a31 = default;
        Vector256<float> a02 = default, a12 = default, a22 = default, a32 = default;
        Vector256<float> a03 = default, a13 = default, a23 = default, a33 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v0 = Widen8(w);
            var v1 = Widen8(w + 8);
            var v2 = Widen8(w + 16);
            var v3 = Widen8(w + 24);
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
        Store4(y, CpuKernels.Sum4(a00, a10, a20, a30), bias);
        Store4(y + yStride, CpuKernels.Sum4(a01, a11, a21, a31), bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a02, a12, a22, a32), bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a03, a13, a23, a33), bias);
    }
}
