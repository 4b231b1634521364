// Inputs and per-item outcomes of the judge: rubric, single-answer grade requests, pairwise requests, token usage.
// A failed item carries Error and no score: failures are counted, never averaged in.
namespace FineTune.Evals.Judging;

/// <summary>Grading instructions and the inclusive score range the judge must answer within.</summary>
public sealed record Rubric(string Text, double Min = 1, double Max = 10)
{
    public static Rubric Default { get; } = new(
        "Rate the response for helpfulness, correctness, relevance and clarity. " +
        "When a reference answer is given, a response that contradicts it is incorrect.");
}

/// <summary>One answer to grade; Reference is an optional gold answer shown to the judge.</summary>
public sealed record GradeRequest(string Id, string Prompt, string Answer, string? Reference = null);

/// <summary>A candidate answer (A) compared against a baseline answer (B) for the same prompt.</summary>
public sealed record PairRequest(string Id, string Prompt, string AnswerA, string AnswerB, string? Reference = null);

/// <summary>A grade: Score and Reasons when the judge answered well-formed JSON within MaxRetries, else
/// Error.</summary>
public sealed record GradeOutcome(string Id, double? Score, string? Reasons, string? Error, int Attempts, bool Cached);

public enum PairVerdict { Win, Tie, Loss, Failed }

/// <summary>Winner position ("1", "2" or "tie") in each order: AFirst shows A as response 1, BFirst shows B as response
/// 1.</summary>
public sealed record PairOutcome(string Id, PairVerdict Verdict, string? AFirstWinner, string? BFirstWinner,
    string? Error);

/// <summary>Tokens reported by the endpoint (ChatResponse.Usage), requests actually sent, and judgments served from
/// cache.</summary>
public sealed record JudgeUsage(long InputTokens, long OutputTokens, long Requests, long CacheHits);

public sealed record GradeReport(IReadOnlyList<GradeOutcome> Items, JudgeUsage Usage, SuiteResult Result);

public sealed record CompareReport(IReadOnlyList<PairOutcome> Items, JudgeUsage Usage, SuiteResult Result);
