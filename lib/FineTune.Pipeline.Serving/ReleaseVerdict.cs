// The live gate of a canary or shadow release: once each variant has answered min_requests (or max_minutes have
// passed), the candidate is promoted when no live metric is worse than production's beyond its margin — error rate,
// p95 latency, screened answers, answers that are not documents of the output schema, mean feedback rating once each
// has min_ratings — and rolled back otherwise.
// Pure: the numbers come from the release monitor, the decision goes to the registry with these reasons and numbers.
using System.Globalization;
using System.Text.Json.Nodes;
using FineTune.Serving.Releases;

namespace FineTune.Pipeline.Serving;

public sealed record ReleaseDecision(bool Promote, IReadOnlyList<string> Reasons, string NumbersJson);

public static class ReleaseVerdict
{
    /// <summary>The decision, or null while the release needs more traffic.</summary>
    public static ReleaseDecision? Decide(ReleaseSettings settings, VariantNumbers production,
        VariantNumbers candidate, TimeSpan elapsed)
    {
        long fewest = Math.Min(production.Requests, candidate.Requests);
        bool due = elapsed.TotalMinutes >= settings.MaxMinutes;
        if (fewest < settings.MinRequests && !due)
            return null;
        var numbers = Numbers(production, candidate, elapsed);
        if (fewest < settings.MinRequests && fewest < settings.MinRequestsAtDeadline)
            return new(false, [$"traffic: fail, {fewest} requests for the quieter variant after " +
                $"{elapsed.TotalMinutes:0.#} minutes (at least {settings.MinRequestsAtDeadline} needed to judge)"],
                numbers);
        var reasons = new List<string>();
        bool promote = true;
        void Check(string metric, bool pass, string detail)
        {
            promote &= pass;
            reasons.Add($"{metric}: {(pass ? "pass" : "fail")}, {detail}");
        }
        Check("error_rate", candidate.ErrorRate - production.ErrorRate <= settings.MaxErrorRateIncrease,
            $"candidate {Percent(candidate.ErrorRate)} vs production {Percent(production.ErrorRate)} " +
            $"(allowed +{Percent(settings.MaxErrorRateIncrease)}; {candidate.Fallbacks} answered by production " +
            "instead)");
        if (candidate.LatencyP95Ms is { } c95 && production.LatencyP95Ms is { } p95)
            Check("latency_p95", c95 <= settings.MaxLatencyP95Ratio * p95,
                $"candidate {c95:0} ms vs production {p95:0} ms (allowed ×{settings.MaxLatencyP95Ratio:0.##})");
        Check("screen_rate", candidate.ScreenRate - production.ScreenRate <= settings.MaxScreenRateIncrease,
            $"candidate {Percent(candidate.ScreenRate)} vs production {Percent(production.ScreenRate)} " +
            $"(allowed +{Percent(settings.MaxScreenRateIncrease)})");
        if (candidate.Checked > 0 && production.Checked > 0)
            Check("invalid_rate", candidate.InvalidRate - production.InvalidRate <= settings.MaxInvalidRateIncrease,
                $"candidate {Percent(candidate.InvalidRate)} vs production {Percent(production.InvalidRate)} of " +
                $"answers not matching the output schema (allowed +{Percent(settings.MaxInvalidRateIncrease)})");
        if (candidate.Feedback is { } cf && production.Feedback is { } pf
            && Math.Min(candidate.Ratings, production.Ratings) >= settings.MinRatings)
            Check("feedback", cf >= pf - settings.MaxFeedbackDecrease,
                $"candidate {cf:0.###} vs production {pf:0.###} mean rating of {candidate.Ratings} and " +
                $"{production.Ratings} ratings (allowed −{settings.MaxFeedbackDecrease:0.###})");
        return new(promote, reasons, numbers);
    }

    static string Percent(double rate) => (rate * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";

    static string Numbers(VariantNumbers production, VariantNumbers candidate, TimeSpan elapsed)
    {
        static JsonObject Of(VariantNumbers n) => new()
        {
            ["requests"] = n.Requests, ["errors"] = n.Errors, ["error_rate"] = n.ErrorRate,
            ["latency_p95_ms"] = n.LatencyP95Ms, ["screened"] = n.Screened, ["screen_rate"] = n.ScreenRate,
            ["checked"] = n.Checked, ["invalid"] = n.Invalid, ["invalid_rate"] = n.InvalidRate,
            ["fallbacks"] = n.Fallbacks, ["ratings"] = n.Ratings, ["feedback"] = n.Feedback,
        };
        return new JsonObject
        {
            ["production"] = Of(production), ["candidate"] = Of(candidate),
            ["minutes"] = Math.Round(elapsed.TotalMinutes, 2),
        }.ToJsonString();
    }
}
