// Alert rules for the live watch (DriftMonitor): configuration Alerts:Rules, each a metric, a threshold and an optional
// window (the newest N requests), project, webhook and retraining; a rule fires when its metric crosses the threshold
// (upward; downward for a metric where lower is worse, like the feedback score, or when Below says so) and re-arms
// when it comes back.
using Microsoft.Extensions.Configuration;

namespace FineTune.Pipeline.Serving;

/// <summary>Fires when <see cref="Metric"/> (one of DriftMonitor.Metrics) passes <see cref="Threshold"/> for
/// <see cref="Project"/> (null: every project).</summary>
public sealed record AlertRule
{
    public string Metric { get; init; } = "";
    public double Threshold { get; init; }
    /// <summary>Fire when the value falls under the threshold; null: the metric's own direction (under only for
    /// quality.feedback_score).</summary>
    public bool? Below { get; init; }
    /// <summary>Judge the newest this many requests (and ratings) of the project, at most Drift:Window; null: all of
    /// the window. Fewer than Drift:MinPrompts: the rule waits.</summary>
    public int? Window { get; init; }
    public string? Project { get; init; }
    public string? Webhook { get; init; }
    /// <summary>When it fires, start a retraining run from the project's new feedback (exported at once, whatever
    /// Feedback:Export's minimum, if its cool-down allows).</summary>
    public bool Retrain { get; init; }

    public bool FiresBelow => Below ?? AlertOptions.LowerIsWorse.Contains(Metric);

    public bool Fires(double value) => FiresBelow ? value < Threshold : value > Threshold;
}

public sealed record AlertOptions
{
    public const string Section = "Alerts";

    /// <summary>The metrics where a fall is the bad news.</summary>
    public static readonly IReadOnlySet<string> LowerIsWorse = new HashSet<string> { "quality.feedback_score" };

    /// <summary>Without rules of its own a host uses these: PSI above 0.25 is the usual "significant shift"; errors
    /// over 0.1% and a p95 over 2 s are the service levels the guides set; answers rated under 0.5 on average (more
    /// thumbs down than up).</summary>
    public static readonly IReadOnlyList<AlertRule> Defaults =
    [
        new() { Metric = "drift.prompt_length_psi", Threshold = 0.25 },
        new() { Metric = "drift.word_js", Threshold = 0.3 },
        new() { Metric = "drift.language_shift", Threshold = 0.2 },
        new() { Metric = "drift.unseen_labels", Threshold = 0.1 },
        new() { Metric = "quality.error_rate", Threshold = 0.001 },
        new() { Metric = "quality.latency_p95_ms", Threshold = 2_000 },
        new() { Metric = "quality.invalid_rate", Threshold = 0.05 },
        new() { Metric = "quality.feedback_score", Threshold = 0.5 },
    ];
    public IReadOnlyList<AlertRule> Rules { get; init; } = [];

    public static IReadOnlyList<AlertRule> From(IConfiguration configuration)
    {
        var rules = configuration.GetSection(Section).Get<AlertOptions>()?.Rules ?? [];
        foreach (var rule in rules)
            if (!DriftMonitor.Metrics.Contains(rule.Metric))
                throw new InvalidOperationException($"Alerts:Rules: metric '{rule.Metric}' is unknown; expected one " +
                    $"of {string.Join(", ", DriftMonitor.Metrics)}.");
        return rules.Count > 0 ? rules : Defaults;
    }
}
