// Messages about a run as a whole: a stage that failed for good, and a cancellation.
// Version 1. Append-only.
namespace FineTune.Contracts;

/// <summary>Event: a stage gave up on run <see cref="RunId"/>: bad input (not retried) or retries exhausted. The
/// message that failed is in the stage's <c>_error</c> queue; the registry has the same error for a person to
/// read.</summary>
public sealed record StageFailed
{
    public required Guid RunId { get; init; }
    public required string Project { get; init; }
    public required string Stage { get; init; }
    public required string Error { get; init; }
    public required string ExceptionType { get; init; }
    public required int Attempts { get; init; }
}

/// <summary>Command: stop run <see cref="RunId"/>; a running training job checkpoints, stops and frees its
/// worker.</summary>
public sealed record CancelRun
{
    public required Guid RunId { get; init; }
    public string? Reason { get; init; }
}
