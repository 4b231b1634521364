// Servers with their own settings: a full queue answers 429, a key over its rate gets 429 with Retry-After, the
// response cache answers repeated deterministic requests and forgets them when the model changes, the output screen
// stops a response with content_filter, and readiness, the OpenAPI document and its page are served.
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using FineTune.Serving.Api;
using FineTune.Serving.Engine;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class LimitsAndCacheTests(ServingFixture fixture)
{
    [Fact]
    public async Task A_full_queue_answers_429_in_openai_shape()
    {
        await using var server = await ServerHandle.StartAsync(fixture.Model,
            o => o with { MaxBatchSize = 1, MaxQueueLength = 1 }, adapters: false);
        var requests = Enumerable.Range(0, 6).Select(_ => server.Http.PostAsJsonAsync("v1/completions",
            new { model = server.BaseName, prompt = "the cat", max_tokens = 80, temperature = 0.7 })).ToList();
        var responses = await Task.WhenAll(requests);
        var statuses = responses.Select(r => r.StatusCode).ToList();
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        var refused = responses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.Equal("queue_full",
            JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
            .GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_key_over_its_rate_gets_429_with_retry_after()
    {
        await using var server = await ServerHandle.StartAsync(fixture.Model,
            o => o with { RequestsPerMinute = 2, ApiKeys = [.. o.ApiKeys, "sk-second-key"] }, adapters: false);
        var statuses = new List<HttpResponseMessage>();
        for (int i = 0; i < 3; i++)
            statuses.Add(await server.Http.GetAsync("v1/models"));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests],
            statuses.Select(s => s.StatusCode));
        var error = JsonDocument.Parse(await statuses[2].Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());
        Assert.True(statuses[2].Headers.RetryAfter is not null);

        // The limit is per key: another key still has its own budget.
        using var other = new HttpClient { BaseAddress = server.BaseAddress };
        other.DefaultRequestHeaders.Authorization = new("Bearer", "sk-second-key");
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("v1/models")).StatusCode);
    }

    [Fact]
    public async Task Deterministic_requests_are_answered_from_the_cache_until_the_model_changes()
    {
        await using var server = await ServerHandle.StartAsync(fixture.Model,
            o => o with { ResponseCacheEntries = 16 });
        var body = new { model = "production", prompt = "the bird sang", max_tokens = 12, temperature = 0 };
        server.Catalog.SetAlias("production", "support");
        using var first = await server.Http.PostAsJsonAsync("v1/completions", body);
        using var second = await server.Http.PostAsJsonAsync("v1/completions", body);
        Assert.False(first.Headers.Contains("x-finetune-cache"));
        Assert.Equal("hit", second.Headers.GetValues("x-finetune-cache").Single());
        string Text(string json) =>
            JsonDocument.Parse(json).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        var cached = Text(await second.Content.ReadAsStringAsync());
        Assert.Equal(Text(await first.Content.ReadAsStringAsync()), cached);

        server.Catalog.SetAlias("production", server.BaseName); // a rollback: the cached answer is the old model's
        using var third = await server.Http.PostAsJsonAsync("v1/completions", body);
        Assert.False(third.Headers.Contains("x-finetune-cache"));
        Assert.NotEqual(cached, Text(await third.Content.ReadAsStringAsync()));

        using var sampled = await server.Http.PostAsJsonAsync("v1/completions", body with { temperature = 1 });
        using var sampledAgain = await server.Http.PostAsJsonAsync("v1/completions", body with { temperature = 1 });
        Assert.False(sampledAgain.Headers.Contains("x-finetune-cache")); // sampling is never cached
    }

    [Fact]
    public async Task The_output_screen_stops_a_response_with_content_filter()
    {
        // Find a word the model says at temperature 0, then block it.
        var body = new { model = "tiny-chat", prompt = "the cat sat", max_tokens = 30, temperature = 0 };
        var (_, plain) = await PostAsync(fixture.Server.Http, body);
        var text = plain.GetProperty("choices")[0].GetProperty("text").GetString()!;
        var word = System.Text.RegularExpressions.Regex.Split(text, @"\W+").First(w => w.Length >= 2);

        await using var server = await ServerHandle.StartAsync(fixture.Model, o => o with { BlockedWords = [word] },
            adapters: false);
        var (status, screened) = await PostAsync(server.Http, body);
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = screened.GetProperty("choices")[0];
        Assert.Equal("content_filter", choice.GetProperty("finish_reason").GetString());
        Assert.DoesNotContain(word, choice.GetProperty("text").GetString()!, StringComparison.OrdinalIgnoreCase);

        using var request = new HttpRequestMessage(HttpMethod.Post,
            "v1/completions")
        {
            Content = JsonContent.Create(new
            {
                body.model, body.prompt, body.max_tokens,
                body.temperature, stream = true
            })
        };
        using var stream = await server.Http.SendAsync(request);
        var events = (await stream.Content.ReadAsStringAsync()).Split('\n').Where(l =>
            l.StartsWith("data: {")).Select(l => JsonDocument.Parse(l[6..]).RootElement).ToList();
        var streamed = string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.DoesNotContain(word, streamed, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("content_filter", events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    static async Task<(HttpStatusCode, JsonElement)> PostAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("v1/completions", body);
        return (response.StatusCode,
            JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task Readiness_openapi_and_the_reference_page_are_served_without_a_key()
    {
        using var anonymous = new HttpClient { BaseAddress = fixture.Server.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health/ready")).StatusCode);
        var openapi = JsonDocument.Parse(await anonymous.GetStringAsync("openapi/serving.json")).RootElement;
        Assert.True(openapi.GetProperty("paths").TryGetProperty("/v1/chat/completions", out _));
        Assert.True(openapi.GetProperty("paths").TryGetProperty("/v1/load_lora_adapter", out _));
        var page = await anonymous.GetAsync("docs");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public void Keys_are_kept_as_hashes_and_checked_in_constant_time()
    {
        var keys = new ApiKeys(["plain-key", "sha256:" + ApiKeys.Hash("other")]);
        Assert.Equal(2, keys.Count);
        Assert.Throws<ArgumentException>(() => new ApiKeys(["sha256:abc"]));
        Assert.StartsWith("ft-", ApiKeys.Generate());
        Assert.NotEqual(ApiKeys.Generate(), ApiKeys.Generate());
    }
}

[Collection("serving")]
public sealed class FastModesTests(ServingFixture fixture)
{
    [Fact]
    public async Task With_int8_activations_and_a_bfloat16_cache_batched_still_equals_alone()
    {
        await using var server = await ServerHandle.StartAsync(fixture.Model,
            o => o with { Int8Activations = true, Bf16KvCache = true });
        async Task<string> Complete(string model, string prompt)
        {
            using var response = await server.Http.PostAsJsonAsync("v1/completions",
                new { model, prompt, max_tokens = 16, temperature = 0 });
            response.EnsureSuccessStatusCode();
            return JsonDocument.Parse(await response.Content.ReadAsStringAsync())
                .RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        string[] prompts = ["the cat", "a dog ran", "once upon a time the", "red moon"];
        var alone = new List<string>();
        foreach (var p in prompts)
            alone.Add(await Complete(p.Length % 2 == 0 ? server.BaseName : "support", p));
        var together = await Task.WhenAll(prompts.Select(p => Complete(p.Length % 2 == 0 ? server.BaseName : "support",
            p)));
        Assert.Equal(alone, together);
    }
}
