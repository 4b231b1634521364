// NF4 with double quantization: every value comes back within half the widest gap between NF4 levels times its
// block's scale, zeros and block maxima exactly, and storage stays under 1/6 of float32.
using FineTune.Models.Checkpoints;

namespace FineTune.Torch.Tests;

public class Nf4Tests
{
    static float[] Normal(int n, int seed, float std)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ =>
            std * (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI
                * random.NextDouble()))).ToArray();
    }

    [Fact]
    public void Round_trip_error_stays_within_the_format_bound()
    {
        var values = Normal(64 * 300 + 17, seed: 1, std: 0.02f);   // a partial last block on purpose
        var nf4 = Nf4Tensor.Quantize(values, [values.Length]);
        var back = nf4.Dequantize();
        double halfGap = Enumerable.Range(1, 15).Max(l => Nf4Tensor.Levels[l] - Nf4Tensor.Levels[l - 1]) / 2;
        for (int b = 0; b * 64 < values.Length; b++)
        {
            var block = Enumerable.Range(b * 64, Math.Min(64, values.Length - b * 64)).ToArray();
            double absmax = block.Max(i => Math.Abs(values[i]));
            // The stored scale differs from absmax by at most half an int8 step of the scales' scale (~1% here).
            double scaleError = block.Max(i => Math.Abs(back[i])) - absmax;
            foreach (int i in block)
                Assert.True(Math.Abs(back[i] - values[i]) <= halfGap * absmax + Math.Abs(scaleError) + 1e-7,
                    $"value {i}: {values[i]} came back as {back[i]} (block absmax {absmax})");
        }
        double rms = Math.Sqrt(values.Zip(back, (a, c) => (a - c) * (a - c)).Average());
        Assert.True(rms < 0.1 * 0.02, $"rms error {rms} should be a small fraction of the std 0.02");
    }

    [Fact]
    public void Storage_is_about_4_1_bits_per_weight()
    {
        var values = Normal(64 * 256 * 4, seed: 2, std: 1f);
        var nf4 = Nf4Tensor.Quantize(values, [256, values.Length / 256]);
        double bitsPerWeight = nf4.StorageBytes * 8.0 / values.Length;
        Assert.InRange(bitsPerWeight, 4.0, 4.2);
        Assert.True(nf4.StorageBytes * 6 <= values.Length * 4L, "frozen-base memory must be at most 1/6 of float32");
    }

    [Fact]
    public void Zeros_stay_zero_and_the_tensor_keeps_its_shape()
    {
        var values = new float[128];
        values[5] = 0.5f;
        var nf4 = Nf4Tensor.Quantize(values, [2, 64]);
        var back = nf4.Dequantize();
        Assert.Equal(0f, back[0]);
        Assert.Equal(0f, back[100]);
        Assert.Equal(0.5f, back[5], 3);
        using var t = nf4.ToTensor();
        Assert.Equal([2L, 64L], t.shape);
    }

    [Fact]
    public void A_real_weight_matrix_round_trips_closely()
    {
        var config = TestModels.Tiny();
        var weight = LlamaWeights.Random(config,
            seed: 4).First(t => t.Name.EndsWith("q_proj.weight", StringComparison.Ordinal));
        var values = weight.ToFloat32();
        var back = Nf4Tensor.Quantize(values, weight.Shape).Dequantize();
        double relative = Math.Sqrt(values.Zip(back,
            (a, b) => (a - b) * (a - b)).Sum() / values.Sum(v => (double)v * v));
        Assert.True(relative < 0.15, $"relative Frobenius error {relative}");
    }
}
