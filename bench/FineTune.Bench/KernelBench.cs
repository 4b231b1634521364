// Single-thread GFLOP/s of the CpuLlama matrix kernels at the stories15M shapes and batches 1-16 — float32 weights,
// and bfloat16 through each path this machine has (AMX tiles; AVX512_BF16 native and AVX2 emulation: the same bits) —
// beside an FMA-only loop (the float32 ceiling of one core).
// Run: dotnet run -c Release --project bench/FineTune.Bench -- --kernels [--out bench/results/kernels.json]
using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Text.Json.Nodes;
using FineTune.Models.Inference;

namespace FineTune.Bench;

static unsafe class KernelBench
{
    static readonly (string Name, int Rows, int K)[] Shapes =
        [("qkv 864x288", 864, 288), ("gate_up 1536x288", 1536, 288), ("down 288x768", 288, 768),
            ("classifier 32000x288", 32000, 288)];

    public static JsonObject Run()
    {
        var results = new JsonArray();
        double peak = FmaPeak();
        Console.WriteLine($"FMA loop (one core): {peak,8:N1} GFLOP/s");
        foreach (var (name, rows, k) in Shapes)
        {
            var random = new Random(7);
            var values = Enumerable.Range(0, rows * k).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var f32 = PanelMatrix.Float(values, rows, k);
            var bf16 = PanelMatrix.BFloat16(values, rows, k);
            foreach (int batch in new[] { 1, 4, 8, 16 })
            {
                // aligned as CpuLlama's buffers are (an AMX tile row is one cache line)
                var x = new FloatBuffer(batch * k);
                var xb = new FloatBuffer(batch * k / 2);
                var y = new FloatBuffer(batch * rows);
                for (int i = 0; i < x.Length; i++)
                    x.Ptr[i] = (float)(random.NextDouble() - 0.5);
                double flops = 2.0 * rows * k * batch;
                float* xx = x.Ptr, yy = y.Ptr;
                ushort* xxb = (ushort*)xb.Ptr;
                Bf16Kernels.RoundRows(xx, k, batch, k, xxb);
                var row = new JsonObject
                {
                    ["matrix"] = name, ["batch"] = batch,
                    ["float32_gflops"] = Math.Round(Gflops(flops, () => CpuKernels.MatMul(f32.Values, k, 0, rows,
                        xx, k, batch, yy, rows, null)), 1),
                };
                foreach (var path in Bf16Kernels.Paths.Where(p => p != Bf16Path.Reference))
                    row[$"bfloat16_{path.ToString().ToLowerInvariant()}_gflops"] = Math.Round(Gflops(flops,
                        () => Bf16Kernels.MatMul(bf16.Bf16Values, k, 0, rows, xxb, k, batch, yy, rows, null,
                            path)), 1);
                Console.WriteLine($"{name,-22} batch {batch,2}: " + string.Join("  ",
                    row.Where(p => p.Key.EndsWith("gflops")).Select(p => $"{p.Key[..^7]} {p.Value}")));
                results.Add(row);
            }
        }
        return new JsonObject
        {
            ["benchmark"] = "matrix kernels, one thread, GFLOP/s (best of 5 x 0.2 s)",
            ["date"] = DateTime.UtcNow.ToString("O"),
            ["bf16_native"] = Bf16Native.Unavailable ?? "AVX512_BF16 kernel loaded",
            ["bf16_amx"] = Bf16Native.AmxUnavailable ?? "AMX kernel loaded",
            ["fma_loop_gflops"] = Math.Round(peak, 1),
            ["kernels"] = results,
        };
    }

    static double Gflops(double flops, Action run)
    {
        run();
        double best = 0;
        for (int rep = 0; rep < 5; rep++)
        {
            var clock = Stopwatch.StartNew();
            int count = 0;
            while (clock.Elapsed.TotalSeconds < 0.2)
            {
                run();
                count++;
            }
            best = Math.Max(best, flops * count / clock.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    // 12 independent 512-bit (or 256-bit) FMA chains: the FMA units' throughput, no memory.
    static double FmaPeak()
    {
        const int iterations = 20_000_000;
        double best = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            var clock = Stopwatch.StartNew();
            float sink = Avx512F.IsSupported ? Fma512(iterations) : Fma256(iterations);
            double seconds = clock.Elapsed.TotalSeconds;
            int lanes = Avx512F.IsSupported ? 16 : 8;
            best = Math.Max(best, 2.0 * 12 * lanes * iterations / seconds / 1e9 + sink * 0);
        }
        return best;
    }

    static float Fma512(int n)
    {
        var m = Vector512.Create(0.999f);
        var c = Vector512.Create(1e-3f);
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m,
            a11 = m;
        for (int i = 0; i < n; i++)
        {
            a0 = Avx512F.FusedMultiplyAdd(a0, m, c);
            a1 = Avx512F.FusedMultiplyAdd(a1, m, c);
            a2 = Avx512F.FusedMultiplyAdd(a2, m, c);
            a3 = Avx512F.FusedMultiplyAdd(a3, m, c);
            a4 = Avx512F.FusedMultiplyAdd(a4, m, c);
            a5 = Avx512F.FusedMultiplyAdd(a5, m, c);
            a6 = Avx512F.FusedMultiplyAdd(a6, m, c);
            a7 = Avx512F.FusedMultiplyAdd(a7, m, c);
            a8 = Avx512F.FusedMultiplyAdd(a8, m, c);
            a9 = Avx512F.FusedMultiplyAdd(a9, m, c);
            a10 = Avx512F.FusedMultiplyAdd(a10, m, c);
            a11 = Avx512F.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    static float Fma256(int n)
    {
        var m = Vector256.Create(0.999f);
        var c = Vector256.Create(1e-3f);
        Vector256<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m,
            a11 = m;
        for (int i = 0; i < n; i++)
        {
            a0 = Fma.MultiplyAdd(a0, m, c);
            a1 = Fma.MultiplyAdd(a1, m, c);
            a2 = Fma.MultiplyAdd(a2, m, c);
            a3 = Fma.MultiplyAdd(a3, m, c);
            a4 = Fma.MultiplyAdd(a4, m, c);
            a5 = Fma.MultiplyAdd(a5, m, c);
            a6 = Fma.MultiplyAdd(a6, m, c);
            a7 = Fma.MultiplyAdd(a7, m, c);
            a8 = Fma.MultiplyAdd(a8, m, c);
            a9 = Fma.MultiplyAdd(a9, m, c);
            a10 = Fma.MultiplyAdd(a10, m, c);
            a11 = Fma.MultiplyAdd(a11, m, c);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
