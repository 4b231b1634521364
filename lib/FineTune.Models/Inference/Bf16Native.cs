// The native bf16 kernels (Native/bf16_matmul.c, built beside the assembly where gcc is present): loaded once, the
// vdpbf16ps kernel only on a CPU that reports AVX512_BF16 (CPUID leaf 7, sub-leaf 1, EAX bit 5) with the AVX-512
// subsets it was built for, the AMX kernel only where the CPU also has AMX-BF16 and Linux grants the tile registers.
// FINETUNE_CPU_BF16=0 turns both off (the managed kernels compute the vdpbf16ps kernel's bits), FINETUNE_CPU_AMX=0 the
// AMX one (whose bits are its own: see Native/bf16_matmul.c).
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace FineTune.Models.Inference;

internal static unsafe class Bf16Native
{
    const string LibraryName = "libfinetune_bf16.so";

    static readonly nint Library = Load();

    static readonly delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void> Kernel =
        (delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void>)
            Export("finetune_bf16_matmul");

    static readonly delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void>
        AmxKernel = LoadAmx();

    /// <summary>Whether the vdpbf16ps kernel is loaded and this CPU can run it.</summary>
    public static bool Available => Kernel != null;

    /// <summary>Whether the AMX kernel is too.</summary>
    public static bool AmxAvailable => AmxKernel != null;

    /// <summary>Why the vdpbf16ps kernel is not (for logs and benchmarks), or null.</summary>
    public static string? Unavailable { get; } = Kernel != null ? null
        : !CpuHasBf16() ? "the CPU has no AVX512_BF16"
        : Environment.GetEnvironmentVariable("FINETUNE_CPU_BF16") == "0" ? "FINETUNE_CPU_BF16=0"
        : $"{LibraryName} was not built (no gcc at build time) or could not be loaded";

    /// <summary>Why the AMX kernel is not, or null.</summary>
    public static string? AmxUnavailable { get; } = AmxKernel != null ? null
        : Unavailable is { } why ? why
        : Environment.GetEnvironmentVariable("FINETUNE_CPU_AMX") == "0" ? "FINETUNE_CPU_AMX=0"
        : "the CPU has no AMX-BF16, or the OS did not grant its tile registers";

    /// <summary>The vdpbf16ps product (rows in 16-row blocks).</summary>
    public static void MatMul(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch, float* y,
        int yStride, float* bias)
    {
        if (Kernel == null)
            throw new PlatformNotSupportedException($"the AVX512_BF16 kernel is not available: {Unavailable}.");
        Kernel(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
    }

    /// <summary>The AMX product (k a multiple of 32): its own bits, batch-invariant too.</summary>
    public static void AmxMatMul(ushort* w, int k, int rowStart, int rowEnd, ushort* x, int xStride, int batch,
        float* y, int yStride, float* bias)
    {
        if (AmxKernel == null)
            throw new PlatformNotSupportedException($"the AMX kernel is not available: {AmxUnavailable}.");
        AmxKernel(w, k, rowStart, rowEnd, x, xStride, batch, y, yStride, bias);
    }

    static nint Load()
    {
        if (!CpuHasBf16() || Environment.GetEnvironmentVariable("FINETUNE_CPU_BF16") == "0")
            return 0;
        var path = Path.Combine(AppContext.BaseDirectory, LibraryName);
        return File.Exists(path) && NativeLibrary.TryLoad(path, out var handle) ? handle : 0;
    }

    static nint Export(string name) =>
        Library != 0 && NativeLibrary.TryGetExport(Library, name, out var export) ? export : 0;

    static delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void> LoadAmx()
    {
        if (Library == 0 || Environment.GetEnvironmentVariable("FINETUNE_CPU_AMX") == "0")
            return null;
        var init = (delegate* unmanaged<int>)Export("finetune_bf16_amx_init");
        return init != null && init() == 1
            ? (delegate* unmanaged<ushort*, int, int, int, ushort*, int, int, float*, int, float*, void>)
                Export("finetune_bf16_amx_matmul")
            : null;
    }

    static bool CpuHasBf16() =>
        Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported
        && X86Base.IsSupported && (X86Base.CpuId(7, 1).Eax & (1 << 5)) != 0;
}
