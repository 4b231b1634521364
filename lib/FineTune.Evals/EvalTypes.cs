// Shared shapes of evaluation results: one metric value with its sample size and confidence interval, and a suite's
// result. Every suite file returns these so the gate and the results JSON treat all suites alike.
namespace FineTune.Evals;

/// <summary>A metric value; Low/High bound a 95% interval when the sample allows (bootstrap or Wilson).</summary>
public sealed record MetricValue(string Name, double Value, long Count, double? Low = null, double? High = null);

/// <summary>How far a suite has got: items done of the total, reported after each batch.</summary>
public readonly record struct EvalProgress(int Done, int Total);

/// <summary>A suite's metrics by name (e.g. "mmlu/acc", "gsm8k/exact_match,strict-match") and free-form
/// details.</summary>
public sealed record SuiteResult(string Suite, string FormatVersion, IReadOnlyList<MetricValue> Metrics,
    object? Details = null)
{
    /// <summary>Items scored (questions, problems, examples).</summary>
    public int Items { get; init; }

    /// <summary>Items whose input did not fit the model's context and lost tokens from its left (see <see
    /// cref="PromptFit"/>).</summary>
    public int Truncated { get; init; }

    /// <summary>What was scored, for the record: the evaluation set's SHA-256 or the test split's, the sample and the
    /// decoding settings (the pipeline's Evaluation stage fills it in).</summary>
    public string? Inputs { get; init; }

    /// <summary>Set when the suite failed: why. A failed suite has no metrics.</summary>
    public string? Error { get; init; }

    /// <summary>Most items had to be truncated: the numbers say little about the model.</summary>
    public bool MostlyTruncated => Items > 0 && Truncated * 2 > Items;

    /// <summary>A result for a suite that could not run.</summary>
    public static SuiteResult Failed(string suite, string formatVersion, string error) =>
        new(suite, formatVersion, []) { Error = error };
}
