// The split our own CPU kernels use (the bf16 loss, the fused SwiGLU): items [0, n) in one contiguous block per
// libtorch thread, so they run as wide as libtorch's ops around them.
namespace FineTune.Torch;

static class ThreadBlocks
{
    /// <summary>Calls run(first, last) once per block of [0, n), the blocks in parallel.</summary>
    public static void Run(int n, Action<int, int> run)
    {
        int parts = Math.Max(1, Math.Min(get_num_threads(), n));
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
            run((int)((long)n * part / parts), (int)((long)n * (part + 1) / parts)));
    }
}
