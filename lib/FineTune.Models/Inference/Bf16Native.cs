// The AVX512_BF16 kernel (Native/bf16_matmul.c, built beside the assembly where gcc is present): loaded once, and only
// on a CPU that reports AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5) with the AVX-512 subsets it was built for.
// FINETUNE_CPU_BF16=0 turns it off (the managed kernels compute the same bits, slower).
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

internal static unsafe class Bf16Native
{
    const string LibraryName = "libfinetune_bf16.so";

    static readonly delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void> Kernel =
        Load();

    /// <summary>Whether the native kernel is loaded and this CPU can run it.</summary>
    public static bool Available => Kernel != null;

    /// <summary>Why it is not (for logs and benchmarks), or null.</summary>
    public static string? Unavailable { get; } = Kernel != null ? null
        : !CpuHasBf16() ? "the CPU has no AVX512_BF16"
        : Environment.GetEnvironmentVariable("FINETUNE_CPU_BF16") == "0" ? "FINETUNE_CPU_BF16=0"
        : $"{LibraryName} was not built (no gcc at build time) or could not be loaded";

    public static void MatMul(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch, float* y,
        int yStride, float* bias)
    {
        if (Kernel == null)
            throw new PlatformNotSupportedException($"the AVX512_BF16 kernel is not available: {Unavailable}.");
        Kernel(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
    }

    static delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void> Load()
    {
        if (!CpuHasBf16() || Environment.GetEnvironmentVariable("FINETUNE_CPU_BF16") == "0")
            return null;
        var path = Path.Combine(AppContext.BaseDirectory, LibraryName);
        if (!File.Exists(path) || !NativeLibrary.TryLoad(path, out var handle))
            return null;
        return NativeLibrary.TryGetExport(handle, "finetune_bf16_matmul", out var export)
            ? (delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void>)export
            : null;
    }

    static bool CpuHasBf16() =>
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported
        && X86Base.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
}
