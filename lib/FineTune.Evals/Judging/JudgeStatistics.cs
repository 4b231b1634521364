// Judge results as SuiteResult ("judge", "judge-v1"): mean score with a percentile-bootstrap 95% interval, failure
// count, win/tie/loss rates with Wilson intervals, and token usage. A metric with no valid items is left out, not
// zeroed.
namespace FineTune.Evals.Judging;

public static class JudgeStatistics
{
    public const string Suite = "judge";
    public const string FormatVersion = "judge-v1";

    public static SuiteResult GradeResult(IReadOnlyList<GradeOutcome> items, JudgeUsage usage, string model,
        Rubric rubric)
    {
        var scores = items.Where(i => i.Score is not null).Select(i => i.Score!.Value).ToArray();
        var metrics = new List<MetricValue>();
        if (scores.Length > 0)
        {
            var (low, high) = BootstrapMean(scores);
            metrics.Add(new MetricValue("judge/score", scores.Average(), scores.Length, low, high));
        }
        metrics.Add(new MetricValue("judge/failures", items.Count - scores.Length, items.Count));
        AddUsage(metrics, usage);
        return new SuiteResult(Suite, FormatVersion, metrics,
            new { Model = model, Rubric = rubric, Usage = usage, Items = items });
    }

    public static SuiteResult CompareResult(IReadOnlyList<PairOutcome> items, JudgeUsage usage, string model)
    {
        var judged = items.Count(i => i.Verdict != PairVerdict.Failed);
        var metrics = new List<MetricValue>();
        if (judged > 0)
            foreach (var (name, verdict) in new[] { ("win_rate", PairVerdict.Win), ("tie_rate", PairVerdict.Tie),
                ("loss_rate", PairVerdict.Loss) })
            {
                var k = items.Count(i => i.Verdict == verdict);
                var (low, high) = Wilson(k, judged);
                metrics.Add(new MetricValue($"judge/{name}", (double)k / judged, judged, low, high));
            }
        metrics.Add(new MetricValue("judge/failures", items.Count - judged, items.Count));
        AddUsage(metrics, usage);
        return new SuiteResult(Suite, FormatVersion, metrics, new { Model = model, Usage = usage, Items = items });
    }

    static void AddUsage(List<MetricValue> metrics, JudgeUsage usage)
    {
        metrics.Add(new MetricValue("judge/input_tokens", usage.InputTokens, usage.Requests));
        metrics.Add(new MetricValue("judge/output_tokens", usage.OutputTokens, usage.Requests));
    }

    /// <summary>95% percentile-bootstrap interval of the mean (2000 resamples, fixed seed so reruns agree); null for n
    /// &lt; 2.</summary>
    public static (double? Low, double? High) BootstrapMean(IReadOnlyList<double> values, int resamples = 2000,
        int seed = 12345)
    {
        if (values.Count < 2)
            return (null, null);
        var mean = Scoring.Bootstrap.Mean("mean", values, resamples, seed);
        return (mean.Low, mean.High);
    }

    /// <summary>95% Wilson score interval of k successes out of n; null when n is 0.</summary>
    public static (double? Low, double? High) Wilson(long k, long n)
    {
        if (n <= 0)
            return (null, null);
        var (low, high) = FineTune.Evals.Wilson.Interval(k, n);
        return (low, high);
    }
}
