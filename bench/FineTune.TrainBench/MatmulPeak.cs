// The machine's measured matmul peak through libtorch: the best GFLOP/s over square GEMMs of 1024 to 4096, float32
// and bfloat16, on the benchmark's thread count. MFU is reported against the float32 figure (and bf16 runs against the
// bfloat16 one: the run's, and the one their own process measured just before and after their timed steps).
using System.Diagnostics;
using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace FineTune.TrainBench;

static class MatmulPeak
{
    public static JsonObject Measure(int threads)
    {
        var result = new JsonObject();
        foreach (var (name, dtype) in new[] { ("float32", ScalarType.Float32), ("bfloat16", ScalarType.BFloat16) })
            result[$"{name}_gflops"] = Math.Round(Best(dtype, threads), 1);
        return result;
    }

    /// <summary>The best GFLOP/s of one dtype's square GEMMs (about 6 s).</summary>
    public static double Best(ScalarType dtype, int threads, Action<int, double>? perSize = null)
    {
        set_num_threads(threads);
        double best = 0;
        foreach (int n in new[] { 1024, 2048, 3072, 4096 })
        {
            double bestOfSize = 0;
            using var scope = NewDisposeScope();
            var a = randn(n, n).to(dtype);
            var b = randn(n, n).to(dtype);
            matmul(a, b).Dispose();
            for (int rep = 0; rep < 3; rep++)
            {
                var clock = Stopwatch.StartNew();
                int count = 0;
                while (clock.Elapsed.TotalSeconds < 0.5)
                {
                    matmul(a, b).Dispose();
                    count++;
                }
                bestOfSize = Math.Max(bestOfSize, 2.0 * n * n * n * count / clock.Elapsed.TotalSeconds / 1e9);
            }
            perSize?.Invoke(n, bestOfSize);
            best = Math.Max(best, bestOfSize);
        }
        return best;
    }
}
