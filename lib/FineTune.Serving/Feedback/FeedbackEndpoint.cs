// POST /v1/feedback: {"completion_id", "rating": "up" | "down" | 1–5, "choice"?: 0, "correction"?, "comment"?}, under
// the same keys as the completions. Stored with the answer it rates (which must have been recorded: 404 otherwise);
// a rating of a release's answer joins that variant's live numbers. Every bad field is a 400 naming it.
using System.Text.Json;
using FineTune.Serving.Api;
using FineTune.Serving.Releases;
using Microsoft.AspNetCore.Http;

namespace FineTune.Serving.Feedback;

public sealed class FeedbackRequest
{
    public string? CompletionId { get; set; }
    public int? Choice { get; set; }
    public JsonElement? Rating { get; set; }
    public string? Correction { get; set; }
    public string? Comment { get; set; }
}

public sealed record FeedbackResponse(long Id, string Object, string CompletionId, int Choice, double Rating);

internal static class FeedbackEndpoint
{
    public const int MaxCorrectionChars = 32_000;
    public const int MaxCommentChars = 4_000;

    public static async Task<IResult> PostAsync(HttpContext http, IFeedbackStore store, ReleaseMonitor monitor,
        ServingOptions options)
    {
        var request = await OpenAiRequests.ReadJsonAsync<FeedbackRequest>(http, options.MaxRequestBytes);
        if (request.CompletionId is not { Length: > 0 and <= 128 } id)
            throw OpenAiError.Invalid("completion_id must be the id of an answer (\"chatcmpl-…\" or \"cmpl-…\").",
                "completion_id");
        int choice = request.Choice ?? 0;
        if (choice is < 0 or > 127)
            throw OpenAiError.Invalid($"choice must be the index of one of the answer's choices, got {choice}.",
                "choice");
        var (rating, scale) = Rating(request.Rating);
        if (request.Correction is { Length: > MaxCorrectionChars })
            throw OpenAiError.Invalid($"correction is longer than {MaxCorrectionChars} characters.", "correction");
        if (request.Comment is { Length: > MaxCommentChars })
            throw OpenAiError.Invalid($"comment is longer than {MaxCommentChars} characters.", "comment");
        var outcome = await store.AddAsync(new FeedbackInput(id, choice, rating, scale,
            string.IsNullOrWhiteSpace(request.Correction) ? null : request.Correction,
            string.IsNullOrWhiteSpace(request.Comment) ? null : request.Comment), http.RequestAborted);
        if (!outcome.Found)
            throw new OpenAiError(404, $"No recorded answer '{Clip(id)}' (choice {choice}): feedback is taken for " +
                "answers of projects that record requests, within their retention period.",
                param: "completion_id", code: "completion_not_found");
        if (outcome is { Release: { } release, Variant: { } variant })
            monitor.RecordFeedback(release, variant, rating);
        return Results.Json(new FeedbackResponse(outcome.Id, "feedback", id, choice, rating), OpenAiJson.Options);
    }

    static (double Rating, string Scale) Rating(JsonElement? value)
    {
        const string Expected = "rating must be \"up\", \"down\" or a whole number of stars from 1 to 5.";
        if (value is not { } v)
            throw OpenAiError.Invalid(Expected, "rating");
        if (v.ValueKind == JsonValueKind.String)
            return v.GetString() switch
            {
                "up" or "thumbs_up" => (1, "thumbs"),
                "down" or "thumbs_down" => (0, "thumbs"),
                _ => throw OpenAiError.Invalid(Expected, "rating"),
            };
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var stars) && stars is >= 1 and <= 5)
            return ((stars - 1) / 4.0, "stars");
        throw OpenAiError.Invalid(Expected, "rating");
    }

    static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
