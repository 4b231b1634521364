// Weight-only int8 for CpuLlama: each matrix row r is stored as round(w / s_r) in [-127, 127] with s_r = max|w_r| / 127
// (one scale per output channel), in the same 4-row panel layout as the float32 kernels. A product widens the int8
// values to float32 in registers and applies the scales to the four sums at the end: y_r = s_r · Σ q_ri x_i. Weights
// take a quarter of the memory; activations, the KV cache and norms stay float32.
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

/// <summary>Options for loading a CpuLlama.</summary>
public sealed record CpuLlamaOptions
{
    /// <summary>Kernel threads, the caller's included (0 = all cores).</summary>
    public int Threads { get; init; }
    /// <summary>Hold every matrix (embedding and classifier included) as int8 with per-output-channel scales.</summary>
    public bool Int8 { get; init; }
    /// <summary>Keep the KV cache as bfloat16: half its memory and of what attention streams per step, at ~3
    /// significant digits. Null: as the weights are held — bfloat16 weights get a bfloat16 cache (what Hugging Face
    /// and vLLM's "auto" keep for a bf16 model), float32 and int8 ones a float32 cache.</summary>
    public bool? Bf16KvCache { get; init; }
    /// <summary>
    /// int8 weights times int8 activations (each activation row quantized on the fly with its own scale), products on
    /// AVX-VNNI: about twice the int8-weights speed on the products, at the cost of activation rounding. Implies Int8.
    /// </summary>
    public bool Int8Activations { get; init; }
    /// <summary>Hold the matrices as bfloat16: half the bytes of float32 to stream per token, the same products over
    /// bf16 values (exactly the float32 engine's when the checkpoint is bf16). Null: when the checkpoint stores its
    /// matrices as bf16. Int8 and Int8Activations take precedence.</summary>
    public bool? Bf16 { get; init; }

    /// <summary>The weight formats by name, as `--dtype` and Serving:Dtype give them.</summary>
    public static readonly IReadOnlyList<string> Dtypes = ["auto", "float32", "bfloat16", "int8", "w8a8"];

    /// <summary>These options with the weights held as <paramref name="dtype"/>: auto (the checkpoint's: bf16 stays
    /// bf16, anything else float32), float32, bfloat16, int8 (weight-only) or w8a8 (int8 weights and activations);
    /// null leaves them as they are.</summary>
    public CpuLlamaOptions WithDtype(string? dtype) => dtype?.Trim().ToLowerInvariant() switch
    {
        null or "" => this,
        "auto" => this with { Bf16 = null, Int8 = false, Int8Activations = false },
        "float32" or "fp32" or "f32" => this with { Bf16 = false, Int8 = false, Int8Activations = false },
        "bfloat16" or "bf16" => this with { Bf16 = true, Int8 = false, Int8Activations = false },
        "int8" => this with { Int8 = true, Int8Activations = false },
        "w8a8" => this with { Int8 = true, Int8Activations = true },
        _ => throw new ArgumentException($"dtype '{dtype}' is not one of {string.Join(", ", Dtypes)}."),
    };
}

/// <summary>A panel-layout matrix: float32, bfloat16, or int8 values with one float32 scale per row (4-row panels for
/// the widening kernels, 16-row blocks for bf16, or 8-row VNNI panels with the rows' sums for the int8-activation
/// kernels).</summary>
internal sealed unsafe class PanelMatrix
{
    readonly FloatBuffer? _float;
    readonly FloatBuffer? _bf16;  // bf16 pairs, 64-byte aligned: an AMX tile row is one cache line
    readonly sbyte[]? _quantized; // pinned
    readonly FloatBuffer? _scales;
    readonly int[]? _rowSums;     // pinned; VNNI layout only
    readonly int _k;

    PanelMatrix(int k, FloatBuffer? values, sbyte[]? quantized, FloatBuffer? scales, int[]? rowSums = null,
        FloatBuffer? bf16 = null)
    {
        _k = k;
        _float = values;
        _quantized = quantized;
        _scales = scales;
        _rowSums = rowSums;
        _bf16 = bf16;
    }

    /// <summary>Row-major (rows, k) values rounded to bfloat16 (exact for values a bf16 checkpoint held), in 16-row
    /// blocks (rows a multiple of 16, k of 32: see Bf16Kernels).</summary>
    public static PanelMatrix BFloat16(float[] rowMajor, int rows, int k)
    {
        if (rows % 16 != 0 || k % 32 != 0)
            throw new ArgumentException($"bf16 blocks take rows in 16s and inputs in 32s, not ({rows}, {k}).");
        var buffer = new FloatBuffer((long)rows * k / 2);
        var values = (ushort*)buffer.Ptr;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < k; i++)
                values[Bf16Index(k, r, i)] = Bf16Kernels.FromFloat(rowMajor[r * k + i]);
        return new PanelMatrix(k, null, null, null, bf16: buffer);
    }

    /// <summary>Where bf16 row r's input i lies: its block, its pair's 64-byte line, its dword, its half.</summary>
    internal static long Bf16Index(int k, int r, int i) =>
        (long)(r / 16) * 16 * k + (long)(i / 2) * 32 + (r % 16) * 2 + i % 2;

    public ushort* Bf16Values =>
        _bf16 is null ? null : (ushort*)_bf16.Ptr;

    public bool IsVnni => _rowSums is not null;
    public int* RowSums =>
        _rowSums is null ? null : (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rowSums));

    /// <summary>int8 rows in VNNI panels (rows padded to 8 with zeros), with per-row scales and sums.</summary>
    public static PanelMatrix QuantizeVnni(float[] rowMajor, int rows, int k)
    {
        int padded = CpuKernels.RoundUp(rows, 8);
        var scales = new FloatBuffer(padded);
        var sums = GC.AllocateArray<int>(padded, pinned: true);
        var q = GC.AllocateArray<sbyte>(padded * k, pinned: true);
        for (int r = 0; r < rows; r++)
        {
            var row = rowMajor.AsSpan(r * k, k);
            float max = 0;
            foreach (var v in row)
                max = MathF.Max(max, MathF.Abs(v));
            float scale = max == 0 ? 1f : max / 127f;
            scales.Ptr[r] = scale;
            int sum = 0;
            for (int i = 0; i < k; i++)
            {
                var value = (sbyte)Math.Clamp(MathF.Round(row[i] / scale), -127, 127);
                q[VnniKernels.Index(k, r, i)] = value;
                sum += value;
            }
            sums[r] = sum;
        }
        for (int r = rows; r < padded; r++)
            scales.Ptr[r] = 1f;
        return new PanelMatrix(k, null, q, scales, sums);
    }

    public float* Values => _float is null ? null : _float.Ptr;
    public sbyte* Quantized =>
        _quantized is null ? null : (sbyte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_quantized));
    public float* ScalesPtr => _scales is null ? null : _scales.Ptr;

    public static PanelMatrix Float(float[] rowMajor, int rows, int k)
    {
        var buffer = new FloatBuffer(rowMajor.LongLength);
        CpuKernels.PackPanels(rowMajor, rows, k, buffer.Ptr);
        return new PanelMatrix(k, buffer, null, null);
    }

    public static PanelMatrix Quantize(float[] rowMajor, int rows, int k)
    {
        var scales = new FloatBuffer(rows);
        var q = GC.AllocateArray<sbyte>(rows * k, pinned: true);
        for (int r = 0; r < rows; r++)
        {
            var row = rowMajor.AsSpan(r * k, k);
            float max = 0;
            foreach (var v in row)
                max = MathF.Max(max, MathF.Abs(v));
            float scale = max == 0 ? 1f : max / 127f;
            scales.Ptr[r] = scale;
            for (int g = 0; g < k; g += 8)
            {
                long at = PanelIndex(k, r, g);
                for (int i = 0; i < 8; i++)
                    q[at + i] = (sbyte)Math.Clamp(MathF.Round(row[g + i] / scale), -127, 127);
            }
        }
        return new PanelMatrix(k, null, q, scales);
    }

    /// <summary>Row r's first n values as float32 (an embedding lookup).</summary>
    public void CopyRow(int r, int n, float* dst)
    {
        if (_float is not null)
        {
            CpuKernels.CopyPanelRow(_float.Ptr, _k, r, n, dst);
            return;
        }
        if (_bf16 is not null)
        {
            ushort* row = Bf16Values + Bf16Index(_k, r, 0);
            for (int i = 0; i < n; i++)
                dst[i] = Bf16Kernels.ToFloat(row[i / 2 * 32 + i % 2]);
            return;
        }
        float scale = _scales!.Ptr[r];
        if (IsVnni)
        {
            for (int i = 0; i < n; i++)
                dst[i] = _quantized![VnniKernels.Index(_k, r, i)] * scale;
            return;
        }
        for (int g = 0; g < n; g += 8)
        {
            long at = PanelIndex(_k, r, g);
            for (int i = 0; i < 8 && g + i < n; i++)
                dst[g + i] = _quantized![at + i] * scale;
        }
    }

    internal static long PanelIndex(int k, int r, int g) => (long)(r / 4) * 4 * k + (long)(g / 8) * 32 + (r % 4) * 8;
}

internal static unsafe class Int8Kernels
{
    /// <summary>y[b, r] = scale[r] · dot(q[r], x[b]) (+ bias[r]) for rows [rowStart, rowEnd); layout as
    /// CpuKernels.MatMul.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MatMul(sbyte* w, float* scales, int k, int rowStart, int rowEnd, float* x, int xStride,
        int batch,
        float* y, int yStride, float* bias) =>
        MatMul(w, scales, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias,
            CpuKernels.Simd512 ? 512 : CpuKernels.Simd ? 256 : 0);

    /// <summary>The same with the instruction width chosen (512, 256 or 0 for the reference loop): tests compare
    /// them.</summary>
    internal static void MatMul(sbyte* w, float* scales, int k, int rowStart, int rowEnd, float* x, int xStride,
        int batch,
        float* y, int yStride, float* bias, int width)
    {
        if (width == 256)
        {
            for (int r = rowStart; r < rowEnd; r += 4)
            {
                sbyte* panel = w + (long)r * k;
                float* s = scales + r, br = bias == null ? null : bias + r;
                int b = 0;
                for (; b + 4 <= batch; b += 4)
                    Block4x4Avx2(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, s, br);
                for (; b < batch; b++)
                    Block4x1Avx2(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, s, br);
            }
            return;
        }
        if (width == 0)
        {
            for (int r = rowStart; r < rowEnd; r++)
                for (int b = 0; b < batch; b++)
                {
                    float sum = 0;
                    for (int i = 0; i < k; i++)
                        sum += w[PanelMatrix.PanelIndex(k, r, i / 8 * 8) + i % 8] * x[(long)b * xStride + i];
                    y[(long)b * yStride + r] = sum * scales[r] + (bias == null ? 0f : bias[r]);
                }
            return;
        }
        for (int r = rowStart; r < rowEnd; r += 4)
        {
            sbyte* panel = w + (long)r * k;
            float* s = scales + r, br = bias == null ? null : bias + r;
            int b = 0;
            for (; b + 8 <= batch; b += 8)
                Block4x8(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, s, br);
            for (; b + 4 <= batch; b += 4)
                Block4x4(panel, k, x + (long)b * xStride, xStride, y + (long)b * yStride + r, yStride, s, br);
            for (; b < batch; b++)
                Block4x1(panel, k, x + (long)b * xStride, y + (long)b * yStride + r, s, br);
        }
    }

    // Rows 0-1 (16 int8) and rows 2-3 of one group of 8 inputs, widened to float32 lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector512<float> Widen(sbyte* p) =>
        Avx512F.ConvertToVector512Single(Avx512F.ConvertToVector512Int32(Sse2.LoadVector128(p)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store4(float* y, Vector128<float> sums, float* scales, float* bias)
    {
        sums = Sse.Multiply(sums, Sse.LoadVector128(scales));
        if (bias != null)
            sums = Sse.Add(sums, Sse.LoadVector128(bias));
        Sse.Store(y, sums);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1(sbyte* w, int k, float* x, float* y, float* scales, float* bias)
    {
        Vector512<float> a = default, b = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Avx512DQ.BroadcastVector256ToVector512(x + i);
            a = Avx512F.FusedMultiplyAdd(Widen(w), u, a);
            b = Avx512F.FusedMultiplyAdd(Widen(w + 16), u, b);
        }
        Store4(y, CpuKernels.Sum4(a, b), scales, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4(sbyte* w, int k, float* x, int xStride, float* y, int yStride, float* scales, float* bias)
    {
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default,
            a3 = default, b3 = default;
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
        Store4(y, CpuKernels.Sum4(a0, b0), scales, bias);
        Store4(y + yStride, CpuKernels.Sum4(a1, b1), scales, bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a2, b2), scales, bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a3, b3), scales, bias);
    }

    // Eight activation rows per pass over the panel: each widening of the int8 weights serves 16 FMAs.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x8(sbyte* w, int k, float* x, int xStride, float* y, int yStride, float* scales, float* bias)
    {
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride, x4 = x3 + xStride, x5 = x4 + xStride,
            x6 = x5 + xStride, x7 = x6 + xStride;
        Vector512<float> a0 = default, b0 = default, a1 = default, b1 = default, a2 = default, b2 = default,
            a3 = default, b3 = default;
        Vector512<float> a4 = default, b4 = default, a5 = default, b5 = default, a6 = default, b6 = default,
            a7 = default, b7 = default;
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
        Store4(y, CpuKernels.Sum4(a0, b0), scales, bias);
        Store4(y + yStride, CpuKernels.Sum4(a1, b1), scales, bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a2, b2), scales, bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a3, b3), scales, bias);
        Store4(y + 4 * yStride, CpuKernels.Sum4(a4, b4), scales, bias);
        Store4(y + 5 * yStride, CpuKernels.Sum4(a5, b5), scales, bias);
        Store4(y + 6 * yStride, CpuKernels.Sum4(a6, b6), scales, bias);
        Store4(y + 7 * yStride, CpuKernels.Sum4(a7, b7), scales, bias);
    }

    // The 256-bit path (AVX2 without AVX-512): one row's 8 int8 values widened per FMA, as the float32 AVX2 kernels.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Widen8(sbyte* p) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(p));

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x1Avx2(sbyte* w, int k, float* x, float* y, float* scales, float* bias)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var u = Avx.LoadVector256(x + i);
            a0 = Fma.MultiplyAdd(Widen8(w), u, a0);
            a1 = Fma.MultiplyAdd(Widen8(w + 8), u, a1);
            a2 = Fma.MultiplyAdd(Widen8(w + 16), u, a2);
            a3 = Fma.MultiplyAdd(Widen8(w + 24), u, a3);
        }
        Store4(y, CpuKernels.Sum4(a0, a1, a2, a3), scales, bias);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Block4x4Avx2(sbyte* w, int k, float* x, int xStride, float* y, int yStride, float* scales, float* bias)
    {
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default, a01 = default, a11 = default,
            a21 = default, a31 = default;
        Vector256<float> a02 = default, a12 = default, a22 = default, a32 = default, a03 = default, a13 = default,
            a23 = default, a33 = default;
        for (int i = 0; i < k; i += 8, w += 32)
        {
            var v0 = Widen8(w);
            var v1 = Widen8(w + 8);
            var v2 = Widen8(w + 16);
            var v3 = Widen8(w + 24);
            var u = Avx.LoadVector256(x + i);
            a00 = Fma.MultiplyAdd(v0, u, a00);
            a10 = Fma.MultiplyAdd(v1, u, a10);
            a20 = Fma.MultiplyAdd(v2, u,
                a20);
            a30 = Fma.MultiplyAdd(v3, u, a30);
            u = Avx.LoadVector256(x1 + i);
            a01 = Fma.MultiplyAdd(v0, u, a01);
            a11 = Fma.MultiplyAdd(v1, u, a11);
            a21 = Fma.MultiplyAdd(v2, u,
                a21);
            a31 = Fma.MultiplyAdd(v3, u, a31);
            u = Avx.LoadVector256(x2 + i);
            a02 = Fma.MultiplyAdd(v0, u, a02);
            a12 = Fma.MultiplyAdd(v1, u, a12);
            a22 = Fma.MultiplyAdd(v2, u,
                a22);
            a32 = Fma.MultiplyAdd(v3, u, a32);
            u = Avx.LoadVector256(x3 + i);
            a03 = Fma.MultiplyAdd(v0, u, a03);
            a13 = Fma.MultiplyAdd(v1, u, a13);
            a23 = Fma.MultiplyAdd(v2, u,
                a23);
            a33 = Fma.MultiplyAdd(v3, u, a33);
        }
        Store4(y, CpuKernels.Sum4(a00, a10, a20, a30), scales, bias);
        Store4(y + yStride, CpuKernels.Sum4(a01, a11, a21, a31), scales, bias);
        Store4(y + 2 * yStride, CpuKernels.Sum4(a02, a12, a22, a32), scales, bias);
        Store4(y + 3 * yStride, CpuKernels.Sum4(a03, a13, a23, a33), scales, bias);
    }
}
