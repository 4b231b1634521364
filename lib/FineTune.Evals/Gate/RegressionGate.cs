// The promotion gate: a candidate replaces the baseline only if its task metric improves by at least δ and no
// general benchmark drops by more than ε (the forgetting guard). Proportions get a 95% interval on the difference,
// and an improvement that the interval cannot tell from zero does not count. Output: a decision with its reasons.
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Evals.Gate;

public enum GateRuleKind { Improve, NoRegression, AtLeast }

/// <summary>Improve: candidate - baseline must be ≥ Threshold (δ). NoRegression: it must be ≥ -Threshold (ε).
/// AtLeast: the candidate's value itself must be ≥ Threshold (e.g. task/json_valid ≥ 0.99), whatever the
/// baseline's.</summary>
public sealed record GateRule(string Metric, GateRuleKind Kind, double Threshold);

public sealed record GateCheck(string Metric, GateRuleKind Kind, double Threshold, double? Baseline, double? Candidate,
    double? Delta, double? DeltaLow, double? DeltaHigh, bool Passed, string Reason);

public sealed record GateDecision(bool Promote, IReadOnlyList<GateCheck> Checks)
{
    /// <summary>What the numbers behind the checks need said (a failed suite, a suite whose inputs mostly did not
    /// fit).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>NoRegression checks that failed: the benchmarks the candidate forgot.</summary>
    public IEnumerable<GateCheck> Forgetting => Checks.Where(c => c.Kind == GateRuleKind.NoRegression && !c.Passed);

    public string ToJson() =>
        JsonSerializer.Serialize(new
        {
            promote = Promote, forgetting = Forgetting.Select(c => c.Metric),
            checks = Checks, notes = Notes
        }, Json);

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"# Gate decision: {(Promote ? "promote" : "reject")}").AppendLine();
        md.AppendLine("| metric | rule | baseline | candidate | delta (95% CI) | result | reason |");
        md.AppendLine("|---|---|---:|---:|---:|---|---|");
        foreach (var c in Checks)
        {
            string rule = c.Kind switch
            {
                GateRuleKind.Improve => $"improve ≥ {c.Threshold:0.####}",
                GateRuleKind.AtLeast => $"at least {c.Threshold:0.####}",
                _ => $"drop ≤ {c.Threshold:0.####}",
            };
            string ci = c.DeltaLow is { } lo && c.DeltaHigh is { } hi
                ? $" [{lo:+0.0000;-0.0000}, {hi:+0.0000;-0.0000}]" : "";
            md.AppendLine($"| {c.Metric} | {rule} | {c.Baseline:0.0000} | {c.Candidate:0.0000} | " +
                $"{c.Delta:+0.0000;-0.0000}{ci} | {(c.Passed ? "pass" : "FAIL")} | {c.Reason} |");
        }
        if (Notes.Count > 0)
        {
            md.AppendLine().AppendLine("Notes:");
            foreach (var note in Notes)
                md.AppendLine($"- {note}");
        }
        return md.ToString();
    }
}

public static class RegressionGate
{
    /// <summary>The decision over two results files, with notes on suites that failed or whose inputs mostly did not
    /// fit.</summary>
    public static GateDecision Decide(EvalReport baseline, EvalReport candidate, IReadOnlyList<GateRule> rules) =>
        Decide(baseline.Metrics, candidate.Metrics, rules) with
        {
            Notes = [.. baseline.Warnings("baseline"), .. candidate.Warnings("candidate")],
        };

    public static GateDecision Decide(IEnumerable<MetricValue> baseline, IEnumerable<MetricValue> candidate,
        IReadOnlyList<GateRule> rules)
    {
        if (rules.Count == 0)
            throw new ArgumentException("the gate needs at least one rule (an Improve rule for the task metric).",
                nameof(rules));
        if (!rules.Any(r => r.Kind == GateRuleKind.Improve))
            throw new ArgumentException("the gate needs an Improve rule: without one, an unchanged model would be " +
                "promoted.", nameof(rules));
        foreach (var r in rules)
            if (r.Threshold < 0 || double.IsNaN(r.Threshold))
                throw new ArgumentOutOfRangeException(nameof(rules), r.Threshold,
                    $"rule for '{r.Metric}': the threshold must be ≥ 0.");

        var before = baseline.ToDictionary(m => m.Name);
        var after = candidate.ToDictionary(m => m.Name);
        var checks = rules.Select(rule => Check(rule, before.GetValueOrDefault(rule.Metric),
            after.GetValueOrDefault(rule.Metric))).ToList();
        return new GateDecision(checks.All(c => c.Passed), checks);
    }

    static GateCheck Check(GateRule rule, MetricValue? baseline, MetricValue? candidate)
    {
        if (rule.Kind == GateRuleKind.AtLeast)
        {
            if (candidate is null)
                return new GateCheck(rule.Metric, rule.Kind, rule.Threshold, baseline?.Value, null, null, null, null,
                    false,
                    $"the candidate has no '{rule.Metric}' result; evaluate it on the suite that reports it.");
            bool enough = candidate.Value >= rule.Threshold;
            return new GateCheck(rule.Metric, rule.Kind, rule.Threshold, baseline?.Value, candidate.Value,
                baseline is null ? null : candidate.Value - baseline.Value, null, null, enough,
                enough ? $"is {candidate.Value:0.0000}, at least the required {rule.Threshold:0.####}"
                    : $"is {candidate.Value:0.0000}, below the required {rule.Threshold:0.####}");
        }
        if (baseline is null || candidate is null)
        {
            var missing = baseline is null ? "the baseline" : "the candidate";
            return new GateCheck(rule.Metric, rule.Kind, rule.Threshold, baseline?.Value, candidate?.Value, null, null,
                null, false,
                $"{missing} has no '{rule.Metric}' result; evaluate both models on the same suites.");
        }
        double delta = candidate.Value - baseline.Value;
        var (low, high) = DifferenceInterval(baseline, candidate);
        bool passed;
        string reason;
        if (rule.Kind == GateRuleKind.Improve)
        {
            passed = delta >= rule.Threshold && (low is null || low > 0);
            reason = delta < rule.Threshold
                ? $"improved by {delta:+0.0000;-0.0000}, less than the required {rule.Threshold:0.####}"
                : low is not null && low <= 0
                    ? $"improved by {delta:+0.0000}, but the 95% interval [{low:+0.0000;-0.0000}, " +
                        $"{high:+0.0000;-0.0000}] includes no change"
                    : $"improved by {delta:+0.0000} (required {rule.Threshold:0.####})";
        }
        else
        {
            passed = delta >= -rule.Threshold;
            reason = passed
                ? $"changed by {delta:+0.0000;-0.0000}, within the allowed drop of {rule.Threshold:0.####}"
                : $"dropped by {-delta:0.0000}, more than the allowed {rule.Threshold:0.####}: the candidate forgot " +
                    $"what the baseline knew";
        }
        return new GateCheck(rule.Metric, rule.Kind, rule.Threshold, baseline.Value, candidate.Value, delta, low, high,
            passed, reason);
    }

    // 95% normal interval on the difference of two independent proportions (accuracies), when both have a sample size
    // and lie in [0, 1]; null otherwise (e.g. a judge's mean score, perplexity).
    static (double? Low, double? High) DifferenceInterval(MetricValue baseline, MetricValue candidate)
    {
        if (baseline.Count <= 0 || candidate.Count <= 0)
            return (null, null);
        if (baseline.Value is < 0 or > 1 || candidate.Value is < 0 or > 1)
            return (null, null);
        double p1 = baseline.Value, p2 = candidate.Value;
        double se = Math.Sqrt(p1 * (1 - p1) / baseline.Count + p2 * (1 - p2) / candidate.Count);
        double delta = p2 - p1;
        return (delta - 1.96 * se, delta + 1.96 * se);
    }
}
