// How a version that passed the offline gate reaches production (the settings' release section, docs/pipeline.md):
// direct (at once), canary (a share of the project's requests, sticky per caller) or shadow (every request answered
// by production and, in the background, by the candidate, whose answers are recorded and never returned). A canary or
// shadow release is decided on live traffic: once each variant has min_requests (or max_minutes have passed), the
// candidate is promoted when no live metric is worse than production's beyond its margin, and rolled back otherwise.
using System.Text.Json;
using FineTune.Text.Structured;

namespace FineTune.Pipeline;

public enum ReleasePolicy { Direct, Canary, Shadow }

public sealed record ReleaseSettings
{
    public ReleasePolicy Policy { get; init; } = ReleasePolicy.Direct;
    /// <summary>canary: the share of callers (0–1) the candidate answers.</summary>
    public double CanaryWeight { get; init; } = 0.1;
    /// <summary>Requests each variant must answer before the analysis decides.</summary>
    public int MinRequests { get; init; } = 200;
    /// <summary>Decide after this long even with fewer requests (too few for either variant: roll back).</summary>
    public double MaxMinutes { get; init; } = 60;
    /// <summary>Fewer requests than this per variant at max_minutes: rolled back for want of evidence.</summary>
    public int MinRequestsAtDeadline { get; init; } = 20;
    /// <summary>Margins: how much worse than production the candidate may be and still be promoted (rates are
    /// absolute differences; latency a ratio of the p95s; feedback a difference of mean scores on a 0–1
    /// scale).</summary>
    public double MaxErrorRateIncrease { get; init; } = 0.01;
    public double MaxLatencyP95Ratio { get; init; } = 1.5;
    public double MaxScreenRateIncrease { get; init; } = 0.01;
    public double MaxInvalidRateIncrease { get; init; } = 0.02;
    public double MaxFeedbackDecrease { get; init; } = 0.1;
    /// <summary>Feedback is judged once each variant has this many ratings.</summary>
    public int MinRatings { get; init; } = 10;
    /// <summary>A JSON schema answers must meet (the subset response_format takes): an answer that is not a document
    /// of it counts as invalid, and a canary's invalid answer is replaced by production's.</summary>
    public JsonElement? OutputSchema { get; init; }

    internal void Validate(string source)
    {
        string Bad(string key, object value, string expected) =>
            $"{source}: 'release.{key}' is {value}; expected {expected}.";
        if (CanaryWeight is <= 0 or >= 1 || double.IsNaN(CanaryWeight))
            throw new InvalidPipelineSettingsException(Bad("canary_weight", CanaryWeight, "between 0 and 1"));
        if (MinRequests < 1 || MinRequestsAtDeadline < 1 || MinRatings < 1)
            throw new InvalidPipelineSettingsException(Bad("min_requests", MinRequests, "≥ 1 (and " +
                "min_requests_at_deadline, min_ratings ≥ 1)"));
        if (MaxMinutes <= 0 || double.IsNaN(MaxMinutes))
            throw new InvalidPipelineSettingsException(Bad("max_minutes", MaxMinutes, "> 0"));
        foreach (var (key, value) in new[] { ("max_error_rate_increase", MaxErrorRateIncrease),
            ("max_screen_rate_increase", MaxScreenRateIncrease), ("max_invalid_rate_increase", MaxInvalidRateIncrease),
            ("max_feedback_decrease", MaxFeedbackDecrease) })
            if (value is < 0 or > 1 || double.IsNaN(value))
                throw new InvalidPipelineSettingsException(Bad(key, value, "between 0 and 1"));
        if (MaxLatencyP95Ratio < 1 || double.IsNaN(MaxLatencyP95Ratio))
            throw new InvalidPipelineSettingsException(Bad("max_latency_p95_ratio", MaxLatencyP95Ratio, "≥ 1"));
        if (OutputSchema is { } schema)
            try
            {
                JsonSchemaCompiler.Compile(schema, "release.output_schema");
            }
            catch (StructuredOutputException e)
            {
                throw new InvalidPipelineSettingsException($"{source}: '{e.Path}': {e.Message}");
            }
    }
}
