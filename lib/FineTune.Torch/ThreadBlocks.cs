// The split our own CPU kernels use (the bf16 loss, the fused SwiGLU and attention softmax): items [0, n) in one
// contiguous block per libtorch thread, so they run as wide as libtorch's ops around them.
using System.Runtime.InteropServices;

namespace FineTune.Torch;

static unsafe class ThreadBlocks
{
    public delegate void ScratchWork(int first, int last, float* scratch);

    /// <summary>Calls run(first, last) once per block of [0, n), the blocks in parallel.</summary>
    public static void Run(int n, Action<int, int> run)
    {
        int parts = Math.Max(1, Math.Min(get_num_threads(), n));
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
            run((int)((long)n * part / parts), (int)((long)n * (part + 1) / parts)));
    }

    /// <summary>As Run, each block with its own scratch of <paramref name="floats"/> float32 values (64-byte
    /// aligned; null when 0), freed when the block ends.</summary>
    public static void Run(int n, long floats, ScratchWork run) => Run(n, (first, last) =>
    {
        float* scratch = floats > 0 ? (float*)NativeMemory.AlignedAlloc((nuint)floats * sizeof(float), 64) : null;
        try
        {
            run(first, last, scratch);
        }
        finally
        {
            NativeMemory.AlignedFree(scratch);
        }
    });
}
