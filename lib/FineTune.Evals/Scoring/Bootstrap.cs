// Percentile-bootstrap 95% intervals for a mean of per-item scores, with a fixed seed so the same outputs always
// give the same interval (results files and the regression gate must be reproducible).
namespace FineTune.Evals.Scoring;

public static class Bootstrap
{
    public const int DefaultResamples = 1000;
    public const int DefaultSeed = 20240601;

    /// <summary>
    /// Mean of <paramref name="values"/> with a 95% percentile interval over <paramref name="resamples"/> resamples
    /// (with replacement, same size); percentiles interpolate linearly as numpy's default does. Empty input: value 0,
    /// count 0, no interval.
    /// </summary>
    public static MetricValue Mean(string name, IReadOnlyList<double> values,
        int resamples = DefaultResamples, int seed = DefaultSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (values.Count == 0)
            return new MetricValue(name, 0, 0);
        var mean = values.Average();
        // new Random(seed) uses the seeded legacy generator, whose sequence is stable across .NET versions.
        var random = new Random(seed);
        var means = new double[resamples];
        for (int r = 0; r < resamples; r++)
        {
            double sum = 0;
            for (int i = 0; i < values.Count; i++)
                sum += values[random.Next(values.Count)];
            means[r] = sum / values.Count;
        }
        Array.Sort(means);
        return new MetricValue(name, mean, values.Count, Percentile(means, 2.5), Percentile(means, 97.5));
    }

    /// <summary>
    /// A statistic of <paramref name="count"/> items that is not a mean (macro-F1): computed on all items, with a 95%
    /// percentile interval from the same statistic on <paramref name="resamples"/> resamples of item indices.
    /// </summary>
    public static MetricValue Statistic(string name, int count, Func<IReadOnlyList<int>, double> statistic,
        int resamples = DefaultResamples, int seed = DefaultSeed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resamples, 1);
        if (count == 0)
            return new MetricValue(name, 0, 0);
        var value = statistic(Enumerable.Range(0, count).ToArray());
        var random = new Random(seed);
        var values = new double[resamples];
        var indices = new int[count];
        for (int r = 0; r < resamples; r++)
        {
            for (int i = 0; i < count; i++)
                indices[i] = random.Next(count);
            values[r] = statistic(indices);
        }
        Array.Sort(values);
        return new MetricValue(name, value, count, Percentile(values, 2.5), Percentile(values, 97.5));
    }

    /// <summary>Linear-interpolation percentile (0..100) of an ascending array.</summary>
    public static double Percentile(double[] sorted, double percent)
    {
        if (sorted.Length == 0)
            throw new ArgumentException("no values", nameof(sorted));
        var position = percent / 100 * (sorted.Length - 1);
        var lower = (int)Math.Floor(position);
        var upper = Math.Min(lower + 1, sorted.Length - 1);
        return sorted[lower] + (position - lower) * (sorted[upper] - sorted[lower]);
    }
}
