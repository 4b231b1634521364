// The playground's side of the Deployment service's OpenAI endpoint: the models it serves, and one chat answer from a
// model with what answered it (the x-finetune-version header: project@vN behind the registry) and how long it took.
// The key stays on the server; the browser only ever sees answers.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace FineTune.Console;

public sealed record PlaygroundAnswer(string Model, string? Version, string Text, string? FinishReason,
    double Milliseconds, string? Error = null);

public sealed class Playground(IHttpClientFactory http, ConsoleOptions options)
{
    public bool Configured => options.ServingUrl is { Length: > 0 };

    HttpClient Client()
    {
        var client = http.CreateClient(nameof(Playground));
        client.BaseAddress = new Uri(options.ServingUrl!.TrimEnd('/') + "/");
        if (options.ServingKey is { Length: > 0 } key)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        client.Timeout = TimeSpan.FromMinutes(2);
        return client;
    }

    public async Task<IReadOnlyList<string>> ModelsAsync(CancellationToken ct)
    {
        using var client = Client();
        using var json = JsonDocument.Parse(await client.GetStringAsync("v1/models", ct));
        return [.. json.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()!)
            .Order(StringComparer.Ordinal)];
    }

    public async Task<PlaygroundAnswer> AskAsync(string model, string prompt, int maxTokens, CancellationToken ct)
    {
        using var client = Client();
        var clock = Stopwatch.StartNew();
        using var response = await client.PostAsJsonAsync("v1/chat/completions", new
        {
            model, messages = new[] { new { role = "user", content = prompt } }, max_tokens = maxTokens,
            temperature = 0,
        }, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        var version = response.Headers.TryGetValues("x-finetune-version", out var v) ? v.FirstOrDefault() : null;
        using var json = JsonDocument.Parse(body);
        if (!response.IsSuccessStatusCode)
            return new PlaygroundAnswer(model, version, "", null, clock.Elapsed.TotalMilliseconds,
                json.RootElement.TryGetProperty("error", out var e) && e.TryGetProperty("message", out var m)
                    ? m.GetString() : $"HTTP {(int)response.StatusCode}");
        var choice = json.RootElement.GetProperty("choices")[0];
        return new PlaygroundAnswer(model, version, choice.GetProperty("message").GetProperty("content").GetString()!,
            choice.GetProperty("finish_reason").GetString(), clock.Elapsed.TotalMilliseconds);
    }
}
