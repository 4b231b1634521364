// Element types of safetensors tensors, with their byte sizes and float32 conversions.
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace FineTune.Models.Checkpoints;

public enum DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool }

public static class DTypes
{
    public static int Size(this DType dtype) => dtype switch
    {
        DType.F64 or DType.I64 => 8,
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 or DType.I16 => 2,
        _ => 1,
    };

    public static string Name(this DType dtype) => dtype switch { DType.Bool => "BOOL", _ => dtype.ToString() };

    public static bool TryParse(string name, out DType dtype)
    {
        foreach (var candidate in Enum.GetValues<DType>())
            if (candidate.Name() == name)
            {
                dtype = candidate;
                return true;
            }
        dtype = default;
        return false;
    }

    /// <summary>Maps Hugging Face's torch_dtype names ("float32", "bfloat16", "float16").</summary>
    public static DType FromTorchName(string name) => name switch
    {
        "float32" or "float" => DType.F32,
        "bfloat16" => DType.BF16,
        "float16" or "half" => DType.F16,
        _ => throw new ModelFormatException($"dtype '{name}' is not supported (expected float32, bfloat16 or " +
            $"float16)."),
    };

    public static string TorchName(this DType dtype) => dtype switch
    {
        DType.F32 => "float32",
        DType.BF16 => "bfloat16",
        DType.F16 => "float16",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a floating-point model dtype"),
    };

    public static float[] ToFloat32(ReadOnlySpan<byte> bytes, DType dtype)
    {
        switch (dtype)
        {
            case DType.F32:
                return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
            case DType.BF16:
                {
                    var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
                    var result = new float[halves.Length];
                    FromBFloat16(halves, result);
                    return result;
                }
            case DType.F16:
                {
                    var halves = MemoryMarshal.Cast<byte, Half>(bytes);
                    var result = new float[halves.Length];
                    for (int i = 0; i < halves.Length; i++)
                        result[i] = (float)halves[i];
                    return result;
                }
            case DType.F64:
                return MemoryMarshal.Cast<byte, double>(bytes).ToArray().Select(x => (float)x).ToArray();
            default:
                throw new ModelFormatException($"cannot read a {dtype.Name()} tensor as floating point weights.");
        }
    }

    public static byte[] FromFloat32(ReadOnlySpan<float> values, DType dtype)
    {
        switch (dtype)
        {
            case DType.F32:
                return MemoryMarshal.AsBytes(values).ToArray();
            case DType.BF16:
                {
                    var result = new ushort[values.Length];
                    ToBFloat16(values, result);
                    return MemoryMarshal.AsBytes(result.AsSpan()).ToArray();
                }
            case DType.F16:
                {
                    var result = new Half[values.Length];
                    for (int i = 0; i < values.Length; i++)
                        result[i] = (Half)values[i];
                    return MemoryMarshal.AsBytes(result.AsSpan()).ToArray();
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "weights are written as F32, BF16 or F16");
        }
    }

    /// <summary>float32 values rounded to bfloat16 as <see cref="ToBFloat16(float)"/> rounds each, vectorized (the
    /// CPU engine's activation rounding).</summary>
    public static unsafe void ToBFloat16(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length, nameof(destination));
        fixed (float* s = source)
        fixed (ushort* d = destination)
            Inference.Bf16Kernels.Round(s, d, source.Length);
    }

    /// <summary>bfloat16 values widened to float32 (exact: a bfloat16 is a float32's high half), vectorized.</summary>
    public static unsafe void FromBFloat16(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, source.Length, nameof(destination));
        int i = 0, n = source.Length;
        fixed (ushort* s = source)
        fixed (float* d = destination)
        {
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector256.Widen(Vector256.Load(s + i));
                Vector256.ShiftLeft(lo, 16).AsSingle().Store(d + i);
                Vector256.ShiftLeft(hi, 16).AsSingle().Store(d + i + 8);
            }
            for (; i < n; i++)
                d[i] = BitConverter.Int32BitsToSingle(s[i] << 16);
        }
    }

    /// <summary>float32 rounded to bfloat16: nearest, ties to even, as torch does; NaN stays NaN.</summary>
    public static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value))
            return (ushort)((bits >> 16) | 0x40);
        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }
}
