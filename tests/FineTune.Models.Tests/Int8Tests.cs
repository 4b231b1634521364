// Weight-only int8: logits stay close to float32 and batched int8 rows equal int8 rows alone. The accuracy cost on a
// trained model (perplexity delta on held-out text) is measured by bench/FineTune.ServeBench.
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;

namespace FineTune.Models.Tests;

public sealed class Int8Tests
{
    [Fact]
    public void Int8_logits_track_float32_in_batches_too()
    {
        var config = SmallModels.Config(bias: true);
        var byName = LlamaWeights.Random(config, seed: 5).ToDictionary(t => t.Name);
        using var full = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions());
        using var int8 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Int8 = true, Threads = 2 });
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12];
        var a = full.Forward(tokens);
        var b = int8.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            double scale = a[t].Max(Math.Abs);
            double diff = a[t].Zip(b[t], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 0.05 * scale, $"position {t}: int8 differs by {diff} (logit scale {scale})");
            Assert.NotEqual(a[t], b[t]); // it really is quantized
        }
        // Batched int8 rows equal int8 rows alone.
        using var batch = int8.StartBatch(slots: 5, maxLength: 8);
        var rows = Enumerable.Range(0, 5).Select(s => new BatchRow(s, 0, tokens[s], true)).ToArray();
        var logits = Enumerable.Range(0, 5).Select(_ => new float[config.VocabSize]).ToArray();
        batch.Run(rows, logits);
        for (int s = 0; s < 5; s++)
            Assert.Equal(int8.Forward([tokens[s]])[0], logits[s]);
    }
}

public sealed unsafe class Int8KernelTests
{
    [Fact]
    public void The_512_256_bit_and_reference_int8_products_agree_and_each_is_batch_invariant()
    {
        const int rows = 12, k = 40, batch = 11;
        var rng = new Random(3);
        var weights = Enumerable.Range(0, rows * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var matrix = PanelMatrix.Quantize(weights, rows, k);
        var x = new FloatBuffer(batch * k);
        for (int i = 0; i < x.Length; i++)
            x.Ptr[i] = (float)(rng.NextDouble() - 0.5);
        var widths = new List<int> { 0 };
        if (CpuKernels.Simd)
            widths.Add(256);
        if (CpuKernels.Simd512)
            widths.Add(512);
        var results = new Dictionary<int, float[]>();
        foreach (var width in widths)
        {
            var y = new FloatBuffer(batch * rows);
            Int8Kernels.MatMul(matrix.Quantized, matrix.ScalesPtr, k, 0, rows, x.Ptr, k, batch, y.Ptr, rows, null,
                width);
            results[width] = y.Span.ToArray();
            for (int b = 0; b < batch; b++) // one row alone gives the same bits as inside the batch
            {
                var alone = new FloatBuffer(rows);
                Int8Kernels.MatMul(matrix.Quantized, matrix.ScalesPtr, k, 0, rows, x.Ptr + b * k, k, 1, alone.Ptr,
                    rows, null, width);
                Assert.Equal(alone.Span.ToArray(), results[width].AsSpan(b * rows, rows).ToArray());
            }
        }
        for (int i = 0; i < batch * rows; i++)
        {
            float exact = 0;
            int b = i / rows, r = i % rows;
            for (int j = 0; j < k; j++)
                exact += weights[r * k + j] * x.Ptr[b * k + j];
            foreach (var width in widths)
                Assert.True(Math.Abs(results[width][i] - exact) < 0.02,
                    $"width {width}, output {i}: {results[width][i]} vs {exact}");
            foreach (var width in widths)
                Assert.Equal(results[0][i], results[width][i], 4);
        }
    }
}

public sealed class Bf16KvCacheTests
{
    [Fact]
    public void A_bfloat16_cache_tracks_float32_and_stays_batch_invariant()
    {
        var config = SmallModels.Config(bias: false);
        var byName = LlamaWeights.Random(config, seed: 8, std: 0.3f).ToDictionary(t => t.Name);
        using var full = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions());
        using var half = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Bf16KvCache = true, Threads = 2 });
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12, 40, 41];
        var a = full.Forward(tokens);
        var b = half.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            double scale = a[t].Max(Math.Abs), diff = a[t].Zip(b[t], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 0.02 * scale, $"position {t}: bf16 cache differs by {diff} (logit scale {scale})");
            // the cache really is bfloat16 (position 0 attends to itself only)
            if (t > 0)
                Assert.NotEqual(a[t], b[t]);
        }
        using var batch = half.StartBatch(slots: 3, maxLength: 12);
        var logits = Enumerable.Range(0, 3).Select(_ => new float[config.VocabSize]).ToArray();
        var rows = new List<BatchRow>();
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < 4; p++)
                rows.Add(new BatchRow(s, p, tokens[s + p], p == 3));
        batch.Run(rows.ToArray(), logits);
        for (int s = 0; s < 3; s++)
            Assert.Equal(half.Forward(tokens[s..(s + 4)])[3], logits[s]);
    }
}

public sealed class Int8ActivationsTests
{
    [Fact]
    public void W8A8_tracks_float32_and_stays_batch_invariant()
    {
        var config = SmallModels.Config(bias: true);
        var byName = LlamaWeights.Random(config, seed: 9, std: 0.3f).ToDictionary(t => t.Name);
        using var full = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions());
        using var w8a8 = CpuLlama.Load(config, n => byName[n],
            new CpuLlamaOptions { Int8Activations = true, Threads = 2 });
        Assert.True(w8a8.Int8 && w8a8.Int8Activations);
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12, 40, 41, 5, 6];
        var a = full.Forward(tokens);
        var b = w8a8.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            double scale = a[t].Max(Math.Abs), diff = a[t].Zip(b[t], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 0.1 * scale, $"position {t}: W8A8 differs by {diff} (logit scale {scale})");
        }
        // Nine slots (one 8-row block, then single rows) against each sequence alone, bit for bit.
        using var batch = w8a8.StartBatch(slots: 9, maxLength: 8);
        var logits = Enumerable.Range(0, 9).Select(_ => new float[config.VocabSize]).ToArray();
        var rows = new List<BatchRow>();
        for (int s = 0; s < 9; s++)
            for (int p = 0; p < 3; p++)
                rows.Add(new BatchRow(s, p, tokens[s + p], p == 2));
        batch.Run(rows.ToArray(), logits);
        for (int s = 0; s < 9; s++)
            Assert.Equal(w8a8.Forward(tokens[s..(s + 3)])[2], logits[s]);
    }
}

static class SmallModels
{
    public static LlamaConfig Config(bool bias) => new()
    {
        HiddenSize = 64, IntermediateSize = 96, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        VocabSize = 77, MaxPositionEmbeddings = 32, RmsNormEps = 1e-6, AttentionBias = bias,
    };
}
