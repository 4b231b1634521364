// The training step's matrix products one by one through libtorch (--gemms): for each projection of the shape and
// the LM head, the forward product, the input gradient and the weight gradient at the step's token count, timed
// alone in bf16 and float32. Their sum is the step's time if everything else were free: the ceiling the matmul
// library puts on MFU for this shape, before attention, norms, the loss and the optimizer.
using System.Diagnostics;
using System.Text.Json.Nodes;
using FineTune.Models;
using FineTune.Torch;
using static TorchSharp.torch;

namespace FineTune.TrainBench;

static class GemmProfile
{
    public static JsonObject Measure(LlamaConfig shape, int tokens, int threads)
    {
        set_num_threads(threads);
        NativeHeap.KeepFreedMemory(); // as the trainer does: no page faults on the large outputs
        int d = shape.HiddenSize, h = shape.IntermediateSize, v = shape.VocabSize;
        int kv = d / shape.NumAttentionHeads * shape.NumKeyValueHeads;
        // (name, outputs, inputs, count per step)
        var projections = new (string Name, int Out, int In, int Count)[]
        {
            ("qkv", d + 2 * kv, d, shape.NumHiddenLayers), ("o", d, d, shape.NumHiddenLayers),
            ("gate_up", 2 * h, d, shape.NumHiddenLayers), ("down", d, h, shape.NumHiddenLayers), ("lm_head", v, d, 1),
        };
        var rows = new JsonArray();
        var totals = new JsonObject();
        foreach (var (dtypeName, dtype) in new[] { ("bfloat16", ScalarType.BFloat16), ("float32", ScalarType.Float32) })
        {
            double seconds = 0, flops = 0;
            foreach (var (name, outputs, inputs, count) in projections)
            {
                using var scope = NewDisposeScope();
                var x = randn(tokens, inputs).to(dtype);
                var w = randn(outputs, inputs).to(dtype);
                var dy = randn(tokens, outputs).to(dtype);
                double product = 2.0 * tokens * outputs * inputs;
                foreach (var (pass, run) in new (string, Action)[]
                {
                    ("forward", () => matmul(x, w.t()).Dispose()),
                    ("input_gradient", () => matmul(dy, w).Dispose()),
                    ("weight_gradient", () => matmul(dy.t(), x).Dispose()),
                })
                {
                    double best = Best(run);
                    seconds += best * count;
                    flops += product * count;
                    rows.Add(new JsonObject
                    {
                        ["dtype"] = dtypeName, ["matrix"] = $"{name} {outputs}x{inputs}", ["pass"] = pass,
                        ["tokens"] = tokens, ["gflops"] = Math.Round(product / best / 1e9, 1),
                    });
                    Console.Error.WriteLine($"{dtypeName,-8} {name,-8} {outputs,5}x{inputs,-5} {pass,-15} " +
                        $"{product / best / 1e9,7:F1} GFLOP/s");
                }
            }
            totals[dtypeName] = new JsonObject
            {
                ["step_matmul_seconds"] = Math.Round(seconds, 4),
                ["matmul_gflops"] = Math.Round(flops / seconds / 1e9, 1),
            };
        }
        return new JsonObject { ["tokens"] = tokens, ["threads"] = threads, ["products"] = rows, ["totals"] = totals };
    }

    // The best time of one call over a few short timed runs.
    static double Best(Action run)
    {
        run();
        double best = double.MaxValue;
        for (int rep = 0; rep < 5; rep++)
        {
            var clock = Stopwatch.StartNew();
            int count = 0;
            while (clock.Elapsed.TotalSeconds < 0.15)
            {
                run();
                count++;
            }
            best = Math.Min(best, clock.Elapsed.TotalSeconds / count);
        }
        return best;
    }
}
