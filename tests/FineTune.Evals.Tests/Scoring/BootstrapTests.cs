// The bootstrap interval: exact on constant data, reproducible for a seed, and bracketing the mean.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class BootstrapTests
{
    [Fact]
    public void Constant_values_give_a_degenerate_interval()
    {
        var m = Bootstrap.Mean("x", [0.25, 0.25, 0.25]);
        Assert.Equal(new MetricValue("x", 0.25, 3, 0.25, 0.25), m);
    }

    [Fact]
    public void Same_seed_same_interval_and_it_brackets_the_mean()
    {
        var values = Enumerable.Range(0, 200).Select(i => (double)(i % 7) / 6).ToList();
        var a = Bootstrap.Mean("x", values);
        var b = Bootstrap.Mean("x", values);
        Assert.Equal(a, b);
        Assert.True(a.Low < a.Value && a.Value < a.High, $"{a.Low} < {a.Value} < {a.High}");
        // Standard error here is about 0.024, so a 95% interval is roughly +-0.05 around the mean.
        Assert.InRange(a.High!.Value - a.Low!.Value, 0.05, 0.15);
    }

    [Fact]
    public void Percentile_interpolates_linearly()
    {
        // numpy.percentile([1, 2, 3, 4], 25) = 1 + 0.75 * (2 - 1) = 1.75
        Assert.Equal(1.75, Bootstrap.Percentile([1, 2, 3, 4], 25), 1e-12);
        Assert.Equal(4, Bootstrap.Percentile([1, 2, 3, 4], 100));
    }

    [Fact]
    public void Empty_input_has_no_interval() => Assert.Equal(new MetricValue("x", 0, 0), Bootstrap.Mean("x", []));
}
