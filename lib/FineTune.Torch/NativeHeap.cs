// glibc serves allocations over 32 MB with mmap and unmaps them on free, so libtorch's large CPU tensors go back to
// the OS after every step and are faulted in (zeroed page by page) on the next. A training step over a 32k vocabulary
// allocates about 1 GB of logits, log-probabilities and their gradients: on 2 cores those page faults were a third of
// the step (stories15M shape, batch 8 × 256: 1,100 → 1,650 tokens/s). Keeping freed memory in the heap lets the next
// step reuse it; the price is that the process keeps its peak size. Process-wide, like libtorch's thread count.
using System.Runtime.InteropServices;

namespace FineTune.Torch;

public static class NativeHeap
{
    const int M_TRIM_THRESHOLD = -1, M_MMAP_MAX = -4;

    /// <summary>Serves every allocation from the heap and never trims it (glibc only); false where that is not
    /// possible.</summary>
    public static bool KeepFreedMemory()
    {
        if (!OperatingSystem.IsLinux())
            return false;
        try
        {
            return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, int.MaxValue) == 1;
        }
        // not glibc (musl)
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int param, int value);
}
