// The words a pipeline run's status takes: those of OpenAI's fine-tuning jobs, so users and scripts already know them.
namespace FineTune.Contracts;

public static class RunStatus
{
    /// <summary>The dropped file is being validated and cleaned.</summary>
    public const string ValidatingFiles = "validating_files";
    /// <summary>Cleaned and tokenized; waiting for a training worker.</summary>
    public const string Queued = "queued";
    /// <summary>Training, evaluating or deploying.</summary>
    public const string Running = "running";
    /// <summary>Every stage finished: the model was promoted, or the gate kept the baseline (see the run's
    /// decision).</summary>
    public const string Succeeded = "succeeded";
    /// <summary>A stage failed for good (bad input, or retries exhausted); the run's error says why.</summary>
    public const string Failed = "failed";
    /// <summary>Cancelled by a user; its training job was stopped and its resources freed.</summary>
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [ValidatingFiles, Queued, Running, Succeeded, Failed, Cancelled];

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Cancelled;
}

/// <summary>Stage names, as they appear in the registry, in events and in <c>report.json</c>.</summary>
public static class Stages
{
    public const string Ingestion = "ingestion";
    public const string Tokenization = "tokenization";
    public const string Training = "training";
    public const string Evaluation = "evaluation";
    public const string Deployment = "deployment";

    public static readonly IReadOnlyList<string> All = [Ingestion, Tokenization, Training, Evaluation, Deployment];
}
