// A local OpenAI-compatible chat-completions server (POST /v1/chat/completions on 127.0.0.1, random port) whose replies
// each test scripts; it counts requests and the most requests in flight at once, and reports token usage.
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace FineTune.Evals.Tests.Judging;

/// <summary>What the judge sent: the last user message, and how many messages the conversation had.</summary>
public sealed record FakeRequest(string LastUser, int MessageCount, int Number);

public sealed class FakeJudgeServer : IAsyncDisposable
{
    public const int PromptTokens = 11, CompletionTokens = 7;
    readonly WebApplication app;
    int requests, inFlight, maxInFlight;

    FakeJudgeServer(WebApplication app) => this.app = app;

    public string BaseUrl => app.Urls.First().TrimEnd('/') + "/v1";
    public int Requests => Volatile.Read(ref requests);
    public int MaxInFlight => Volatile.Read(ref maxInFlight);

    public static async Task<FakeJudgeServer> StartAsync(Func<FakeRequest, CancellationToken, Task<IResult>> handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new FakeJudgeServer(app);
        app.MapPost("/v1/chat/completions", async (HttpContext http) =>
        {
            var number = Interlocked.Increment(ref server.requests);
            var now = Interlocked.Increment(ref server.inFlight);
            for (var max = server.maxInFlight; now > max; max = server.maxInFlight)
                Interlocked.CompareExchange(ref server.maxInFlight, now, max);
            try
            {
                var body = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
                var messages = body!["messages"]!.AsArray();
                var lastUser = messages.Last(m => (string?)m!["role"] == "user")!["content"];
                return await handler(new FakeRequest(Text(lastUser), messages.Count, number), http.RequestAborted);
            }
            finally
            {
                Interlocked.Decrement(ref server.inFlight);
            }
        });
        await app.StartAsync();
        return server;
    }

    /// <summary>Message content is either a string or an array of {type: "text", text} parts.</summary>
    static string Text(JsonNode? content) => content switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray parts => string.Concat(parts.Select(p => (string?)p?["text"] ?? "")),
        _ => "",
    };

    /// <summary>A chat.completion with the given assistant text and fixed usage.</summary>
    public static IResult Reply(string content) => Results.Text(JsonSerializer.Serialize(new
    {
        id = "chatcmpl-test",
        @object = "chat.completion",
        created = 1700000000,
        model = "judge-test",
        choices = new[] { new { index = 0, message = new { role = "assistant", content }, finish_reason = "stop" } },
        usage = new
        {
            prompt_tokens = PromptTokens, completion_tokens = CompletionTokens,
            total_tokens = PromptTokens + CompletionTokens
        },
    }), "application/json");

    public static IResult Score(double score) =>
        Reply($"{{\"score\": {score.ToString(System.Globalization.CultureInfo.InvariantCulture)}, \"reasons\": " +
        $"\"fine\"}}");

    /// <summary>An OpenAI-style error body with the status, and Retry-After when given.</summary>
    public static IResult Error(int status, string? retryAfter = null) => new ErrorResult(status, retryAfter);

    sealed class ErrorResult(int status, string? retryAfter) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.StatusCode = status;
            if (retryAfter is not null)
                http.Response.Headers.RetryAfter = retryAfter;
            http.Response.ContentType = "application/json";
            return http.Response.WriteAsync($"{{\"error\":{{\"message\":\"status " +
                $"{status}\",\"type\":\"test\",\"code\":null}}}}");
        }
    }

    /// <summary>The text of response 1 and response 2 in a pairwise prompt.</summary>
    public static (string First, string Second) Responses(string prompt)
    {
        var one = prompt.IndexOf("[Response 1]", StringComparison.Ordinal);
        var two = prompt.IndexOf("[Response 2]", StringComparison.Ordinal);
        var end = prompt.IndexOf("Reply with JSON", two, StringComparison.Ordinal);
        return (prompt[one..two], prompt[two..end]);
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
