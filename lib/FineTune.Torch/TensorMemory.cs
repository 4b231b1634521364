// The CPU memory behind a tensor, for the few kernels written here rather than composed of libtorch ops (the bf16 loss,
// the fused AdamW step). Callers check dtype, device and contiguity first.
using System.Runtime.InteropServices;

namespace FineTune.Torch;

internal static unsafe class TensorMemory
{
    public static void* Pointer(Tensor t) => (void*)THSTensor_data(t.Handle);

    /// <summary>A contiguous float32 CPU tensor's elements.</summary>
    public static Span<float> Floats(Tensor t) => new(Pointer(t), checked((int)t.numel()));

    public static bool IsPlainFloat32(Tensor t) =>
        t.dtype == ScalarType.Float32 && t.device_type == DeviceType.CPU && t.is_contiguous();

    [DllImport("LibTorchSharp")]
    static extern IntPtr THSTensor_data(IntPtr handle);
}
