// The decode attention kernel (one query head over its cached keys and values) at the head sizes it has special
// passes for (64 and 48 in one pass over the positions) and the ones it slices (8, 16, 32, 80, 128), against a
// double-precision softmax(q·k / sqrt(d)) · v, over float32 and bfloat16 caches; position counts that are and are not
// multiples of its 4-position blocks.
using FineTune.Models.Inference;

namespace FineTune.Models.Tests;

public sealed unsafe class AttentionKernelTests
{
    [Theory]
    [InlineData(8, 1)]
    [InlineData(16, 7)]
    [InlineData(32, 12)]
    [InlineData(48, 65)]
    [InlineData(64, 33)]
    [InlineData(80, 9)]
    [InlineData(128, 40)]
    public void One_head_attends_as_softmax_of_scaled_dot_products_weighting_the_values(int headDim, int n)
    {
        var rng = new Random(headDim * 100 + n);
        const int stride = 136;    // the cache's row stride: wider than the head
        var q = new FloatBuffer(headDim);
        var keys = new FloatBuffer((long)n * stride);
        var values = new FloatBuffer((long)n * stride);
        for (int i = 0; i < headDim; i++)
            q.Ptr[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < n * stride; i++)
        {
            keys.Ptr[i] = (float)(rng.NextDouble() * 2 - 1);
            values.Ptr[i] = (float)(rng.NextDouble() * 2 - 1);
        }
        float scale = 1f / MathF.Sqrt(headDim);
        var scores = new FloatBuffer(n);
        var output = new FloatBuffer(headDim);
        CpuKernels.AttendHead(q.Ptr, keys.Ptr, values.Ptr, stride, n, headDim, scale, scores.Ptr, output.Ptr);
        var expected = Reference(q, keys, values, stride, n, headDim, scale, v => v);
        for (int i = 0; i < headDim; i++)
            Assert.True(Math.Abs(expected[i] - output.Ptr[i]) < 1e-5,
                $"dimension {i}: {output.Ptr[i]} vs {expected[i]}");

        // the bf16 cache: the same over the rounded keys and values
        var keys16 = new ushort[n * stride];
        var values16 = new ushort[n * stride];
        fixed (ushort* k16 = keys16, v16 = values16)
        {
            BFloat16Kv.Store(keys.Ptr, k16, n * stride);
            BFloat16Kv.Store(values.Ptr, v16, n * stride);
            CpuKernels.AttendHead<BFloat16Kv>(q.Ptr, k16, v16, stride, n, headDim, scale, scores.Ptr, output.Ptr);
        }
        var rounded = Reference(q, keys, values, stride, n, headDim, scale,
            v => Bf16Kernels.ToFloat(Bf16Kernels.FromFloat(v)));
        for (int i = 0; i < headDim; i++)
            Assert.True(Math.Abs(rounded[i] - output.Ptr[i]) < 1e-5, $"bf16 cache, dimension {i}: {output.Ptr[i]} vs " +
                $"{rounded[i]}");
    }

    static double[] Reference(FloatBuffer q, FloatBuffer keys, FloatBuffer values, int stride, int n, int headDim,
        float scale, Func<float, float> cached)
    {
        var logits = new double[n];
        for (int t = 0; t < n; t++)
        {
            double dot = 0;
            for (int i = 0; i < headDim; i++)
                dot += q.Ptr[i] * (double)cached(keys.Ptr[t * stride + i]);
            logits[t] = dot * scale;
        }
        double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
        var output = new double[headDim];
        for (int t = 0; t < n; t++)
            for (int i = 0; i < headDim; i++)
                output[i] += Math.Exp(logits[t] - max) / sum * cached(values.Ptr[t * stride + i]);
        return output;
    }
}
