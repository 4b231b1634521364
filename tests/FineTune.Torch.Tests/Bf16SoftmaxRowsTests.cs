// The row passes under the bf16 loss: the polynomial exp at both vector widths against double-precision exp over the
// softmax range (and NaN, −∞), the 512- and 256-bit sums and scaled exps against each other and a double reference
// on rows with a scalar tail, and the argmax rule for ties and NaN rows.
using System.Runtime.Intrinsics;
using FineTune.Models.Checkpoints;

namespace FineTune.Torch.Tests;

public unsafe class Bf16SoftmaxRowsTests
{
    [Fact]
    public void Exp_is_within_two_ulp_of_exp_over_the_softmax_range_at_both_widths()
    {
        double worst = 0;
        for (float x = -87f; x <= 0; x += 0.0137f)
        {
            double exact = Math.Exp(x);
            worst = Math.Max(worst, Math.Abs(Bf16SoftmaxRows.Exp(Vector512.Create(x)).ToScalar() - exact) / exact);
            worst = Math.Max(worst, Math.Abs(Bf16SoftmaxRows.Exp(Vector256.Create(x)).ToScalar() - exact) / exact);
        }
        Assert.InRange(worst, 0, 2.5e-7);
        Assert.Equal(1f, Bf16SoftmaxRows.Exp(Vector512<float>.Zero).ToScalar());
        Assert.True(float.IsNaN(Bf16SoftmaxRows.Exp(Vector512.Create(float.NaN)).ToScalar()));
        Assert.True(float.IsNaN(Bf16SoftmaxRows.Exp(Vector256.Create(float.NaN)).ToScalar()));
        // far below the range: exp(−87), a normal float, never garbage from the exponent arithmetic
        float floor = Bf16SoftmaxRows.Exp(Vector512.Create(float.NegativeInfinity)).ToScalar();
        Assert.Equal(MathF.Exp(-87f), floor, MathF.Exp(-87f) * 1e-6f);
        Assert.Equal(floor, Bf16SoftmaxRows.Exp(Vector256.Create(-1000f)).ToScalar());
    }

    [Theory]
    [InlineData(1007)]
    [InlineData(32000)]
    [InlineData(5)]
    public void Sums_and_scaled_exps_agree_at_both_widths_and_with_double_precision(int v)
    {
        var random = new Random(v);
        var row = new ushort[v];
        for (int i = 0; i < v; i++)
            row[i] = DTypes.ToBFloat16((float)(random.NextDouble() * 12 - 9));
        float shift = 2.5f, g = 0.37f;
        double exact = 0;
        foreach (var h in row)
            exact += Math.Exp(Bf16SoftmaxRows.Widen(h) - shift);
        fixed (ushort* x = row)
        {
            float wide = Bf16SoftmaxRows.SumExp512(x, v, shift), narrow = Bf16SoftmaxRows.SumExp256(x, v, shift);
            Assert.Equal(exact, wide, exact * 1e-6);
            Assert.Equal(exact, narrow, exact * 1e-6);

            var (a, b) = (new ushort[v], new ushort[v]);
            var (ea, eb) = (new float[v], new float[v]);
            fixed (ushort* da = a, db = b)
            fixed (float* pa = ea, pb = eb)
            {
                // kept or not, the same sum at each width; the kept exps scaled and rounded
                Assert.Equal(wide, Bf16SoftmaxRows.SumExp(x, v, shift, pa, wide: true));
                Assert.Equal(narrow, Bf16SoftmaxRows.SumExp(x, v, shift, pb, wide: false));
                Bf16SoftmaxRows.Scale(pa, v, g, da);
                Bf16SoftmaxRows.Scale(pb, v, g, db);
            }
            for (int i = 0; i < v; i++)
            {
                double value = g * Math.Exp(Bf16SoftmaxRows.Widen(row[i]) - shift);
                // rounded to bf16: within half a bf16 step of the exact value (and a float32 ulp of slack)
                Assert.Equal(value, Bf16SoftmaxRows.Widen(a[i]), value / 256 * 1.001);
                Assert.Equal(value, Bf16SoftmaxRows.Widen(b[i]), value / 256 * 1.001);
            }
        }
    }

    [Fact]
    public void The_target_is_the_argmax_only_where_no_earlier_element_ties_it_and_a_nan_row_has_a_nan_max()
    {
        var row = new ushort[40];
        for (int i = 0; i < row.Length; i++)
            row[i] = DTypes.ToBFloat16(-i);
        row[3] = row[33] = DTypes.ToBFloat16(5f);
        fixed (ushort* x = row)
        {
            Assert.Equal((5f, true), Bf16SoftmaxRows.MaxAndHit(x, row.Length, 3));
            // the same value later: torch.argmax gives the first
            Assert.Equal((5f, false), Bf16SoftmaxRows.MaxAndHit(x, row.Length, 33));
            Assert.Equal((5f, false), Bf16SoftmaxRows.MaxAndHit(x, row.Length, 0));
            // a maximum in the scalar tail (index 39 of 40: past the last full vector)
            x[39] = DTypes.ToBFloat16(7f);
            Assert.Equal((7f, true), Bf16SoftmaxRows.MaxAndHit(x, row.Length, 39));
            x[20] = DTypes.ToBFloat16(float.NaN);
            var (max, hit) = Bf16SoftmaxRows.MaxAndHit(x, row.Length, 39);
            Assert.True(float.IsNaN(max));
            Assert.False(hit);
        }
    }
}
