// bfloat16 weights (issue 22): a bf16 checkpoint is served in bf16 by default — bf16 weights times activations
// rounded to bf16, float32 accumulation, as vdpbf16ps and AMX compute — and the AMX, AVX512_BF16, AVX2 and reference
// paths agree bit for bit, batched rows equal rows alone, and the result stays within bf16's rounding of the float32
// engine.
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using Xunit.Abstractions;

namespace FineTune.Models.Tests;

public sealed unsafe class Bf16KernelTests(ITestOutputHelper output)
{
    // 144 rows: a group of 8 blocks (or two of 4) and a lone block; 64 inputs: two AMX tile rows; 19 activation rows:
    // a full tile and 3 rows, blocks of 4 and single rows.
    const int Rows = 144, K = 64, Batch = 19;

    static (float[] W, FloatBuffer X, ushort[] Xb, FloatBuffer Bias) Case(int seed, double scale)
    {
        var rng = new Random(seed);
        float Value() => (float)((rng.NextDouble() - 0.5) * Math.Pow(2, scale * (rng.NextDouble() - 0.5)));
        var w = Enumerable.Range(0, Rows * K).Select(_ => Value()).ToArray();
        var x = new FloatBuffer(Batch * K);
        for (int i = 0; i < x.Length; i++)
            x.Ptr[i] = i % 13 == 0 ? 0f : Value();
        var xb = new ushort[Batch * K];
        fixed (ushort* p = xb)
            Bf16Kernels.RoundRows(x.Ptr, K, Batch, K, p);
        var bias = new FloatBuffer(Rows);
        for (int r = 0; r < Rows; r++)
            bias.Ptr[r] = r * 0.01f;
        return (w, x, xb, bias);
    }

    // The weights times activation rows [offset, offset + batch).
    static float[] Product(float[] weights, ushort[] xb, int offset, int batch, FloatBuffer? bias, Bf16Path path)
    {
        var w = PanelMatrix.BFloat16(weights, Rows, K);
        var y = new float[batch * Rows];
        fixed (ushort* x = xb)
        fixed (float* yp = y)
            Bf16Kernels.MatMul(w.Bf16Values, K, 0, Rows, x + offset * K, K, batch, yp, Rows,
                bias is null ? null : bias.Ptr, path);
        return y;
    }

    [Theory]
    [InlineData(1, 4.0)]        // weights and activations of ordinary sizes
    [InlineData(2, 120.0)]      // magnitudes from 2^-60 to 2^60: cancellation, no subnormals
    public void Every_path_but_amx_computes_the_same_bits_and_every_path_is_batch_invariant(int seed, double scale)
    {
        var (w, _, xb, bias) = Case(seed, scale);
        output.WriteLine($"paths here: {string.Join(", ", Bf16Kernels.Paths)}" +
            (Bf16Native.Unavailable is { } why ? $" (no native kernel: {why})" : "") +
            (Bf16Native.AmxUnavailable is { } noAmx ? $" (no AMX kernel: {noAmx})" : ""));
        var reference = Product(w, xb, 0, Batch, bias, Bf16Path.Reference);
        foreach (var path in Bf16Kernels.Paths)
        {
            var expected = Product(w, xb, 0, Batch, bias, path);
            if (path != Bf16Path.Amx)
            {
                Assert.Equal(reference, expected);
                Assert.Equal(Product(w, xb, 0, Batch, null, Bf16Path.Reference), Product(w, xb, 0, Batch, null, path));
            }
            for (int b = 0; b < Batch; b++)
                Assert.Equal(expected.AsSpan(b * Rows, Rows).ToArray(), Product(w, xb, b, 1, bias, path));
            foreach (int n in new[] { 2, 4, 17 })   // blocks of n rows starting anywhere
                for (int b = 0; b + n <= Batch; b += 3)
                    Assert.Equal(expected.AsSpan(b * Rows, n * Rows).ToArray(), Product(w, xb, b, n, bias, path));
        }
    }

    [Fact]
    public void The_reference_adds_each_pairs_odd_product_then_its_even_one_and_rows_read_back_from_the_blocks()
    {
        var (w, _, xb, _) = Case(4, 8.0);
        var y = Product(w, xb, 0, 1, null, Bf16Path.Reference);
        for (int r = 0; r < Rows; r++)
        {
            float acc = 0;
            float Term(int i) => Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(w[r * K + i])) * Bf16Kernels.ToFloat(xb[i]);
            for (int i = 0; i < K; i += 2)
                acc = acc + Term(i + 1) + Term(i);   // each product exact in float32, each sum rounded
            Assert.Equal(acc, y[r]);
        }
        var matrix = PanelMatrix.BFloat16(w, Rows, K);
        float* row = stackalloc float[K];
        matrix.CopyRow(37, K, row);
        for (int i = 0; i < K; i++)
            Assert.Equal(Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(w[37 * K + i])), row[i]);
        Assert.Throws<ArgumentException>(() => PanelMatrix.BFloat16(new float[20 * 64], 20, 64));
    }

    [Fact]
    public void The_product_is_the_float32_product_of_the_rounded_values_to_float32_accumulation_on_every_path()
    {
        var (values, x, xb, bias) = Case(3, 4.0);
        foreach (var path in Bf16Kernels.Paths)
        {
            var y = Product(values, xb, 0, Batch, bias, path);
            for (int b = 0; b < Batch; b++)
                for (int r = 0; r < Rows; r++)
                {
                    double exact = bias.Ptr[r], magnitude = Math.Abs(bias.Ptr[r]);
                    for (int i = 0; i < K; i++)
                    {
                        double term = (double)Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(values[r * K + i]))
                            * Bf16Kernels.ToFloat(xb[b * K + i]);
                        exact += term;
                        magnitude += Math.Abs(term);
                    }
                    Assert.True(Math.Abs(y[b * Rows + r] - exact) <= 1e-6 * magnitude,
                        $"{path}: row {r} batch {b}: {y[b * Rows + r]} vs {exact}");
                    // and the activations really were rounded: not the float32 activations' product
                    Assert.Equal(Bf16Kernels.FromFloat(x.Ptr[b * K + 1]), xb[b * K + 1]);
                }
        }
    }

    [Fact]
    public void Rounding_to_bf16_is_to_the_nearest_ties_to_even_with_nan_kept_in_the_vector_path_too()
    {
        Assert.Equal(0x3F80, Bf16Kernels.FromFloat(1f));
        Assert.Equal(0x3F80, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F808000)));   // tie: even
        Assert.Equal(0x3F82, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F818000)));   // tie: even
        Assert.Equal(0x3F81, Bf16Kernels.FromFloat(BitConverter.Int32BitsToSingle(0x3F808001)));
        Assert.True(float.IsNaN(Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(float.NaN))));
        var rng = new Random(5);
        float[] special = [0f, -0f, 1f, float.NaN, -float.NaN, float.PositiveInfinity, float.NegativeInfinity,
            float.MaxValue, -float.MaxValue, float.Epsilon, 1e-40f, BitConverter.Int32BitsToSingle(0x7F7FFFFF),
            BitConverter.Int32BitsToSingle(0x3F808000), BitConverter.Int32BitsToSingle(0x3F818000),
            BitConverter.Int32BitsToSingle(0x7FC00001), BitConverter.Int32BitsToSingle(0x7F800001)];
        var values = special.Concat(Enumerable.Range(0, 45).Select(_ =>
            BitConverter.Int32BitsToSingle(rng.Next(int.MinValue, int.MaxValue)))).ToArray();   // 61: not a multiple
        var rounded = new ushort[values.Length];
        fixed (float* v = values)
        fixed (ushort* r = rounded)
            Bf16Kernels.Round(v, r, values.Length);
        Assert.Equal(values.Select(Bf16Kernels.FromFloat).ToArray(), rounded);
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
    public void A_bf16_checkpoint_is_served_in_bf16_near_the_float32_engines_logits_and_batch_invariant(bool bias)
    {
        var config = SmallModels.Config(bias);
        var byName = Checkpoint(config, DType.BF16);
        using var bf16 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Threads = 2 });
        using var float32 = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Bf16 = false });
        Assert.True(bf16.Bf16);
        Assert.False(float32.Bf16);
        int[] tokens = [1, 7, 33, 20, 76, 4, 9, 12, 40, 41];
        var a = float32.Forward(tokens);
        var b = bf16.Forward(tokens);
        for (int t = 0; t < tokens.Length; t++)
        {
            // the same weights; only the activations' rounding to bf16 before each product differs
            double scale = a[t].Max(Math.Abs), diff = a[t].Zip(b[t], (x, y) => Math.Abs(x - y)).Max();
            Assert.True(diff < 0.03 * scale, $"position {t}: bf16 differs by {diff} (logit scale {scale})");
            Assert.NotEqual(a[t], b[t]);
        }

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
    public void The_kv_cache_keeps_the_weights_precision_unless_asked_otherwise()
    {
        var config = SmallModels.Config(false);
        var bf16 = Checkpoint(config, DType.BF16);
        var f32 = Checkpoint(config, DType.F32);
        bool Bf16Cache(Dictionary<string, TensorData> weights, CpuLlamaOptions options)
        {
            using var model = CpuLlama.Load(config, n => weights[n], options);
            return model.Bf16KvCache;
        }
        Assert.True(Bf16Cache(bf16, new CpuLlamaOptions()));
        Assert.False(Bf16Cache(f32, new CpuLlamaOptions()));
        Assert.True(Bf16Cache(f32, new CpuLlamaOptions().WithDtype("bfloat16")));
        Assert.False(Bf16Cache(bf16, new CpuLlamaOptions().WithDtype("float32")));
        Assert.False(Bf16Cache(bf16, new CpuLlamaOptions().WithDtype("int8")));
        Assert.False(Bf16Cache(bf16, new CpuLlamaOptions { Bf16KvCache = false }));
        Assert.True(Bf16Cache(f32, new CpuLlamaOptions { Bf16KvCache = true }));
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
        Assert.Equal((3, (bool?)true), (options.Threads, options.Bf16KvCache));
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

public sealed class StepLogitsTests
{
    // A vocabulary wide enough that the classifier is shared out between the two threads, each copying its columns of
    // every row's logits out: a decode step's rows equal each row decoded alone, in every weight format.
    [Theory]
    [InlineData("float32")]
    [InlineData("bfloat16")]
    [InlineData("int8")]
    [InlineData("w8a8")]
    public void Each_rows_step_logits_equal_the_row_decoded_alone(string dtype)
    {
        var config = SmallModels.Config(bias: false) with { VocabSize = 3001 };
        var byName = LlamaWeights.Random(config, seed: 12).ToDictionary(t => t.Name);
        using var model = CpuLlama.Load(config, n => byName[n], new CpuLlamaOptions { Threads = 2 }.WithDtype(dtype));
        int[][] prompts = [[1, 5], [2, 9], [3, 14], [4, 20], [6, 11]];
        int[][] steps = [[7, 8, 9, 10, 11], [40, 41, 42, 43, 44]];
        using var batch = model.StartSession(prompts.Length, 4);
        batch.Prefill(prompts);
        var rows = steps.Select(step => batch.Step(step).Select(r => (float[])r.Clone()).ToArray()).ToArray();
        for (int b = 0; b < prompts.Length; b++)
        {
            int[] sequence = [.. prompts[b], .. steps.Select(step => step[b])];
            var forward = model.Forward(sequence);
            for (int s = 0; s < steps.Length; s++)
                Assert.Equal(forward[prompts[b].Length + s], rows[s][b]);
        }
    }
}
