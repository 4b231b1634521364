// Hooks for production feedback: the request log (answered requests, for the hosts whose projects opted in) and the
// feedback store behind POST /v1/feedback. The serving library only calls them; the Deployment host implements them
// over the registry (RegistryRequestLog). `finetune serve` alone records nothing and has no feedback route.
using FineTune.Serving.Engine;
using FineTune.Serving.Releases;

namespace FineTune.Serving.Feedback;

/// <summary>One choice of an answered request. Kind chat (PromptJson: the messages) or text (the prompt string).
/// Variant: production, candidate or shadow under a release. Latency: the request's time to its whole answer;
/// Screened: the output screen stopped this choice. Label: the caller's metadata label (label, category or class).
/// </summary>
public sealed record ServedExchange(string CompletionId, int Choice, ServedModel Model, string? ReleaseId,
    string? Variant, string Kind, string PromptJson, string Answer, DateTimeOffset At, TimeSpan Latency = default,
    bool Screened = false, string? Label = null);

public interface IRequestLog
{
    /// <summary>Whether answers of <paramref name="model"/> are recorded (the project opted in).</summary>
    bool Records(ServedModel model);

    /// <summary>Queues an answer for recording; never blocks the request.</summary>
    void Record(ServedExchange exchange);

    /// <summary>A request <paramref name="model"/> failed to answer (a server-side error, not a bad request).</summary>
    void Failed(ServedModel model, TimeSpan latency)
    {
    }
}

public sealed class NoRequestLog : IRequestLog
{
    public bool Records(ServedModel model) => false;
    public void Record(ServedExchange exchange)
    {
    }
}

/// <summary>A rating of one choice of a recorded answer: 0–1 (thumbs down 0, up 1; stars (n − 1) / 4).</summary>
public sealed record FeedbackInput(string CompletionId, int Choice, double Rating, string Scale, string? Correction,
    string? Comment);

/// <summary>Found: the answer was recorded (else nothing was stored); Release and Variant: what answered it.</summary>
public sealed record FeedbackOutcome(bool Found, long Id = 0, string? Release = null, Variant? Variant = null);

public interface IFeedbackStore
{
    Task<FeedbackOutcome> AddAsync(FeedbackInput feedback, CancellationToken ct);
}
