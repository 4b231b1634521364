// Evaluation's conversation: a trained candidate is evaluated beside the production model and the gate decides.
// Version 1. Append-only.
namespace FineTune.Contracts;

/// <summary>Event: candidate and baseline were evaluated on the same suites; <see cref="Promote"/> is the gate's
/// verdict.</summary>
public sealed record EvaluationCompleted
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required int ModelVersion { get; init; }
    /// <summary>The production version compared against; null when the project had none (the base model was the
    /// baseline).</summary>
    public int? BaselineVersion { get; init; }
    public required ArtifactRef CandidateResults { get; init; }
    public required ArtifactRef BaselineResults { get; init; }
    /// <summary>gate.json: every rule with baseline, candidate, delta, interval and reason.</summary>
    public required ArtifactRef Gate { get; init; }
    public required bool Promote { get; init; }
    public required IReadOnlyList<string> Reasons { get; init; }
    public required IReadOnlyDictionary<string, double> CandidateMetrics { get; init; }
    public required IReadOnlyDictionary<string, double> BaselineMetrics { get; init; }
    /// <summary>report.md: every metric of both models with intervals and the rule that judged it, and the examples
    /// where the candidate got worse. Optional (added after version 1's first release).</summary>
    public ArtifactRef? Report { get; init; }

    /// <summary>comparison.json: report.md's content for programs. Optional (added after report.md).</summary>
    public ArtifactRef? ReportJson { get; init; }

    /// <summary>The run's settings (their release section says how a promotion reaches production). Optional (added
    /// with progressive releases; without it a promotion is direct).</summary>
    public ArtifactRef? Settings { get; init; }
}
