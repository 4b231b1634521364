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
        var config = new LlamaConfig
        {
            HiddenSize = 64, IntermediateSize = 96, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = 77, MaxPositionEmbeddings = 32, RmsNormEps = 1e-6, AttentionBias = true,
        };
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
        for (int s = 0; s < 5; s++) Assert.Equal(int8.Forward([tokens[s]])[0], logits[s]);
    }
}
