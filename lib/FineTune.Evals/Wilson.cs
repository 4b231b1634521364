// The Wilson score interval for a proportion (accuracy, win rate): better behaved than the normal interval near 0,
// 1 and for small n. Used by every suite that reports a rate.
namespace FineTune.Evals;

/// <summary>Wilson score interval for a proportion, 95% (z = 1.96).</summary>
public static class Wilson
{
    public static (double Low, double High) Interval(long successes, long n, double z = 1.959963984540054)
    {
        if (n <= 0)
            return (double.NaN, double.NaN);
        double p = (double)successes / n, z2 = z * z, denominator = 1 + z2 / n;
        double centre = (p + z2 / (2 * n)) / denominator;
        double half = z * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / denominator;
        return (Math.Max(0, centre - half), Math.Min(1, centre + half));
    }
}
