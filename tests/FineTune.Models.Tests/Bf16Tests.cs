// bfloat16 weights (issue 22): a bf16 checkpoint is served in bf16 by default and computes exactly what the float32
// engine computes over the same values — the 512- and 256-bit products agree bit for bit, batched rows equal rows
// alone — while a float32 checkpoint asked for bf16 stays within bf16's rounding of its float32 logits.
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;

namespace FineTune.Models.Tests;

public sealed unsafe class Bf16KernelTests
{
    [Fact]
    public void The_512_and_256_bit_products_equal_the_float32_kernels_over_the_same_values_and_are_batch_invariant()
    {
        const int rows = 12, k = 40, batch = 11;
        var rng = new Random(4);
        var weights = Enumerable.Range(0, rows * k).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var bf16 = PanelMatrix.BFloat16(weights, rows, k);
        // the float32 kernels over the values bf16 holds
        var widened = weights.Select(w => Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(w))).ToArray();
        var float32 = PanelMatrix.Float(widened, rows, k);
        var x = new FloatBuffer(batch * k);
        var bias = new FloatBuffer(rows);
        for (int i = 0; i < x.Length; i++)
            x.Ptr[i] = (float)(rng.NextDouble() - 0.5);
        for (int r = 0; r < rows; r++)
            bias.Ptr[r] = r * 0.01f;
        var expected = new FloatBuffer(batch * rows);
        CpuKernels.MatMul(float32.Values, k, 0, rows, x.Ptr, k, batch, expected.Ptr, rows, bias.Ptr);

        var widths = new List<int> { 0 };
        if (CpuKernels.Simd)
            widths.Add(256);
        if (CpuKernels.Simd512)
            widths.Add(512);
        foreach (var width in widths)
        {
            var y = new FloatBuffer(batch * rows);
            Bf16Kernels.MatMul(bf16.Bf16Values, k, 0, rows, x.Ptr, k, batch, y.Ptr, rows, bias.Ptr, width);
            if (width > 0)          // the same FMA chains and reductions as the float32 kernels: the same bits
                Assert.Equal(expected.Span.ToArray(), y.Span.ToArray());
            else                    // the reference loop sums in another order
                for (int i = 0; i < batch * rows; i++)
                    Assert.Equal(expected.Ptr[i], y.Ptr[i], 4);
            for (int b = 0; b < batch; b++)
            {
                var alone = new FloatBuffer(rows);
                Bf16Kernels.MatMul(bf16.Bf16Values, k, 0, rows, x.Ptr + b * k, k, 1, alone.Ptr, rows, bias.Ptr,
                    width);
                Assert.Equal(y.Span.Slice(b * rows, rows).ToArray(), alone.Span.ToArray());
            }
        }
        // rounding to bf16 is to the nearest, ties to even, as torch does
        Assert.Equal(0x3F80, Bf16Kernels.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F808000)));   // tie: even
        Assert.Equal(0x3F82, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F818000)));   // tie: even
        Assert.Equal(0x3F81, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F808001)));
        Assert.True(float.IsNaN(Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(float.NaN))));
    }
}

public sealed class Bf16WeightsTests
{
    static Dictionary<string, TensorData> Checkpoint(LlamaConfig config, DType dtype) =>
        LlamaWeights.Random(config, seed: 9, std: 0.3f).ToDictionary(t => t.Name,
            t => TensorData.FromFloat32(t.Name, t.Shape, t.ToFloat32(), dtype));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_bf16_checkpoint_is_served_in_bf16_with_the_float32_engines_logits_and_batch_invariant(bool bias)
    {
        var config = SmallModels.Config(bias);
        var byName = Checkpoint(config, DType.BF16);
        using var bf16 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Threads = 2 });
        using var float32 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Bf16 = false });
        Assert.True(bf16.Bf16);
        Assert.False(float32.Bf16);
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12, 40, 41];
        Assert.Equal(float32.Forward(tokens), bf16.Forward(tokens));

        using var batch = bf16.StartBatch(slots: 3, maxLength: 12);
        var logits = Enumerable.Range(0, 3).Select(_ => new float[config.VocabSize]).ToArray();
        var rows = new List<BatchRow>();
        for (int s = 0; s < 3; s++)
            for (int p = 0; p < 4; p++)
                rows.Add(new BatchRow(s, p, tokens[s + p], p == 3));
        batch.Run(rows.ToArray(), logits);
        for (int s = 0; s < 3; s++)
            Assert.Equal(bf16.Forward(tokens[s..(s + 4)])[3], logits[s]);
    }

    [Fact]
    public void A_float32_checkpoint_stays_float32_unless_asked_and_in_bf16_keeps_close_to_its_logits()
    {
        var config = SmallModels.Config(bias: true);
        var byName = Checkpoint(config, DType.F32);
        using var full = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions());
        using var half = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Bf16 = true });
        using var int8 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Bf16 = true, Int8 = true });
        Assert.False(full.Bf16);
        Assert.True(half.Bf16);
        Assert.False(int8.Bf16);            // int8 takes precedence
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12];
        var a = full.Forward(tokens);
        var b = half.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            double scale = a[t].Max(Math.Abs), diff = a[t].Zip(b[t], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 0.03 * scale, $"position {t}: bf16 weights differ by {diff} (logit scale {scale})");
            Assert.NotEqual(a[t], b[t]);    // the weights really are rounded
        }
    }
}

public sealed class DtypeOptionTests
{
    [Theory]
    [InlineData("auto", null, false, false)]
    [InlineData("float32", false, false, false)]
    [InlineData("BFloat16", true, false, false)]
    [InlineData("bf16", true, false, false)]
    [InlineData("int8", null, true, false)]
    [InlineData("w8a8", null, true, true)]
    public void A_dtype_name_sets_the_weight_format(string dtype, bool? bf16, bool int8, bool activations)
    {
        var options = new CpuLlamaOptions { Threads = 3, Bf16KvCache = true }.WithDtype(dtype);
        Assert.Equal((bf16, int8, activations), (options.Bf16, options.Int8, options.Int8Activations));
        Assert.Equal((3, true), (options.Threads, options.Bf16KvCache));
    }

    [Fact]
    public void No_dtype_keeps_the_older_switches_and_an_unknown_one_names_the_choices()
    {
        var older = new CpuLlamaOptions { Int8 = true };
        Assert.Same(older, older.WithDtype(null));
        var e = Assert.Throws<ArgumentException>(() => older.WithDtype("fp8"));
        Assert.Contains("'fp8'", e.Message);
        Assert.Contains("float32, bfloat16, int8, w8a8", e.Message);
    }
}
