// Live numbers per release and variant, for the analysis that promotes or rolls back a canary or shadow: requests,
// errors, latency (the last 2,000 per variant, for the p95), answers stopped by the output screen, answers that are
// not documents of the project's output schema, answers a canary lost to production's (fallbacks), and feedback
// ratings. Each is also
// an OpenTelemetry counter or histogram tagged with the release and the variant, so the dashboard charts them.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace FineTune.Serving.Releases;

public sealed record VariantNumbers(long Requests, long Errors, long Screened, long Invalid, long Fallbacks,
    double? LatencyP95Ms, long Checked, long Ratings = 0, double RatingSum = 0)
{
    /// <summary>Mean feedback rating (0–1) of this variant's answers; null before any.</summary>
    public double? Feedback => Ratings == 0 ? null : RatingSum / Ratings;
    public double ErrorRate => Requests == 0 ? 0 : (double)Errors / Requests;
    public double ScreenRate => Requests == 0 ? 0 : (double)Screened / Requests;
    /// <summary>Of the answers checked against the output schema.</summary>
    public double InvalidRate => Checked == 0 ? 0 : (double)Invalid / Checked;
}

public sealed class ReleaseMonitor
{
    const int LatencySamples = 2_000;

    sealed class Counts
    {
        public long Requests, Errors, Screened, Invalid, Fallbacks, Checked, Ratings;
        public double RatingSum;
        public readonly Queue<double> Latencies = new();
    }

    readonly ConcurrentDictionary<(string Release, Variant Variant), Counts> _counts = new();
    readonly Counter<long> _requests;
    readonly Counter<long> _outcomes;
    readonly Histogram<double> _latency;
    readonly Histogram<double> _feedback;

    public ReleaseMonitor(IMeterFactory? meters = null)
    {
        var meter = meters?.Create(ServingMetrics.MeterName) ?? new Meter(ServingMetrics.MeterName);
        _requests = meter.CreateCounter<long>("finetune.release.requests", "{request}",
            "Requests answered under a progressive release, by release and variant");
        _outcomes = meter.CreateCounter<long>("finetune.release.outcomes", "{request}",
            "Errors, screened and invalid answers and fallbacks under a release, by release, variant and outcome");
        _latency = meter.CreateHistogram<double>("finetune.release.latency", "s",
            "Time to the whole answer under a release, by release and variant");
        _feedback = meter.CreateHistogram<double>("finetune.release.feedback", "{rating}",
            "Feedback ratings (0–1) of answers under a release, by release and variant");
    }

    /// <param name="valid">null when the answer was not checked (no output schema, or it failed first).</param>
    public void Record(string release, Variant variant, bool error, TimeSpan latency, bool screened = false,
        bool? valid = null, bool fallback = false)
    {
        var c = _counts.GetOrAdd((release, variant), _ => new Counts());
        lock (c)
        {
            c.Requests++;
            if (error)
                c.Errors++;
            if (screened)
                c.Screened++;
            if (valid is { } v)
            {
                c.Checked++;
                if (!v)
                    c.Invalid++;
            }
            if (fallback)
                c.Fallbacks++;
            if (!error)
            {
                c.Latencies.Enqueue(latency.TotalMilliseconds);
                if (c.Latencies.Count > LatencySamples)
                    c.Latencies.Dequeue();
            }
        }
        var tags = new TagList { { "finetune.release", release }, { "finetune.variant", Name(variant) } };
        _requests.Add(1, tags);
        if (!error)
            _latency.Record(latency.TotalSeconds, tags);
        foreach (var (happened, outcome) in new[] { (error, "error"), (screened, "screened"),
            (valid == false, "invalid"), (fallback, "fallback") })
            if (happened)
            {
                var t = tags;
                t.Add("finetune.outcome", outcome);
                _outcomes.Add(1, t);
            }
    }

    /// <summary>A feedback rating (0–1) of an answer this variant gave.</summary>
    public void RecordFeedback(string release, Variant variant, double rating)
    {
        var c = _counts.GetOrAdd((release, variant), _ => new Counts());
        lock (c)
        {
            c.Ratings++;
            c.RatingSum += rating;
        }
        _feedback.Record(rating, new TagList { { "finetune.release", release },
            { "finetune.variant", Name(variant) } });
    }

    public VariantNumbers Numbers(string release, Variant variant)
    {
        if (!_counts.TryGetValue((release, variant), out var c))
            return new VariantNumbers(0, 0, 0, 0, 0, null, 0);
        lock (c)
        {
            double? p95 = null;
            if (c.Latencies.Count > 0)
            {
                var sorted = c.Latencies.Order().ToArray();
                p95 = sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(0.95 * sorted.Length) - 1)];
            }
            return new VariantNumbers(c.Requests, c.Errors, c.Screened, c.Invalid, c.Fallbacks, p95, c.Checked,
                c.Ratings, c.RatingSum);
        }
    }

    readonly ConcurrentDictionary<string, ConcurrentQueue<string>> _shadowAnswers = new();
    const int ShadowAnswersKept = 100;

    /// <summary>Keeps a shadow's answers (the newest 100 per release): recorded, never returned.</summary>
    public void KeepShadowAnswers(string release, IEnumerable<string> answers)
    {
        var kept = _shadowAnswers.GetOrAdd(release, _ => new ConcurrentQueue<string>());
        foreach (var answer in answers)
        {
            kept.Enqueue(answer);
            while (kept.Count > ShadowAnswersKept)
                kept.TryDequeue(out _);
        }
    }

    public IReadOnlyList<string> ShadowAnswers(string release) =>
        _shadowAnswers.TryGetValue(release, out var kept) ? [.. kept] : [];

    public static string Name(Variant variant) => variant == Variant.Candidate ? "candidate" : "production";
}
