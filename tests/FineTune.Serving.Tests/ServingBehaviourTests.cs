// What the engine promises behind the API: batched equals unbatched at temperature 0, adapters per request, a swap
// during a stream finishes that stream on the old version, a gone client frees its slot, the response cache, and
// errors in OpenAI's shape with the right status for every bad request (never a 500).
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class ServingBehaviourTests(ServingFixture fixture)
{
    ServerHandle Server => fixture.Server;

    static async Task<(HttpStatusCode Status, JsonElement Json)> PostAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    async Task<string> CompleteAsync(string model, string prompt, int maxTokens = 16)
    {
        var (status, json) = await PostAsync(Server.Http, "v1/completions",
            new { model, prompt, max_tokens = maxTokens, temperature = 0 });
        Assert.Equal(HttpStatusCode.OK, status);
        return json.GetProperty("choices")[0].GetProperty("text").GetString()!;
    }

    [Fact]
    public async Task Concurrent_requests_batched_together_equal_each_one_alone()
    {
        string[] prompts = ["the cat", "a dog ran on the", "once upon a time the little bird", "red",
            "the moon and the sun sang", "big tree"];
        var alone = new List<string>();
        foreach (var p in prompts)
            alone.Add(await CompleteAsync(Server.BaseName, p, 20));
        var together = await Task.WhenAll(prompts.Select(p => CompleteAsync(Server.BaseName, p, 20)));
        Assert.Equal(alone, together);
        Assert.True(alone.Distinct().Count() > 1, "different prompts should give different outputs");
    }

    [Fact]
    public async Task Adapter_requests_share_the_batch_with_base_requests_and_differ_from_them()
    {
        var baseAlone = await CompleteAsync(Server.BaseName, "the happy dog", 20);
        var adapterAlone = await CompleteAsync("support", "the happy dog", 20);
        Assert.NotEqual(baseAlone, adapterAlone);
        var mixed = await Task.WhenAll(Enumerable.Range(0,
            6).Select(i => CompleteAsync(i % 2 == 0 ? Server.BaseName : "support", "the happy dog", 20)));
        for (int i = 0; i < mixed.Length; i++)
            Assert.Equal(i % 2 == 0 ? baseAlone : adapterAlone, mixed[i]);
    }

    [Fact]
    public async Task A_swap_during_a_stream_finishes_it_on_the_old_version_and_the_next_request_gets_the_new()
    {
        var catalog = Server.Catalog;
        catalog.SetAlias("production", "support");
        try
        {
            var oldVersion = await CompleteAsync("support", "once upon", 60);
            var newVersion = await CompleteAsync(Server.BaseName, "once upon", 60);
            Assert.NotEqual(oldVersion, newVersion);

            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = JsonContent.Create(new
                {
                    model = "production", prompt = "once upon", max_tokens = 60,
                    temperature = 0, stream = true
                }),
            };
            using var response = await Server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            var text = new StringBuilder();
            bool swapped = false;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (!line.StartsWith("data: "))
                    continue;
                if (line == "data: [DONE]")
                    break;
                text.Append(JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices")[0].GetProperty("text")
                    .GetString());
                // the rollback, mid-stream
                if (!swapped)
                {
                    catalog.SetAlias("production", Server.BaseName);
                    swapped = true;
                }
            }
            Assert.True(swapped);
            Assert.Equal(oldVersion, text.ToString());
            Assert.Equal(newVersion, await CompleteAsync("production", "once upon", 60));
        }
        finally
        {
            catalog.Remove("production");
        }
    }

    [Fact]
    public async Task A_client_that_goes_away_frees_its_slot()
    {
        var scheduler = Server.Catalog.All.First(m => m.Id == Server.BaseName).Base.Scheduler;
        using (var cts = new CancellationTokenSource())
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = JsonContent.Create(new
                {
                    model = Server.BaseName, prompt = "the", max_tokens = 90,
                    temperature = 0.8, stream = true
                }),
            };
            using var response = await Server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead,
                cts.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token));
            await reader.ReadLineAsync(cts.Token);
            cts.Cancel();
        }
        for (int i = 0; i < 100 && scheduler.ActiveSequences > 0; i++)
            await Task.Delay(50);
        Assert.Equal(0, scheduler.ActiveSequences);
    }

    public static TheoryData<string, object, HttpStatusCode, string?, string?> BadRequests => new()
    {
        { "unknown model", new { model = "nope", prompt = "x" }, HttpStatusCode.NotFound, "model", "model_not_found" },
        { "negative max_tokens", new { model = "BASE", prompt = "x", max_tokens = -5 }, HttpStatusCode.BadRequest,
            "max_tokens", "invalid_value" },
        { "huge n", new { model = "BASE", prompt = "x", n = 1000 }, HttpStatusCode.BadRequest, "n", "invalid_value" },
        { "context overflow",
            new { model = "BASE", prompt = string.Join(' ', Enumerable.Repeat("the cat sat on the mat", 40)) },
            HttpStatusCode.BadRequest, "prompt", "context_length_exceeded" },
        { "completion overflow", new { model = "BASE", prompt = "the cat", max_tokens = 500 },
            HttpStatusCode.BadRequest, "max_tokens", "context_length_exceeded" },
        { "temperature", new { model = "BASE", prompt = "x", temperature = 7 }, HttpStatusCode.BadRequest,
            "temperature", "invalid_value" },
        { "wrong type", new { model = "BASE", prompt = "x", max_tokens = "ten" }, HttpStatusCode.BadRequest,
            "max_tokens", null },
        { "no model", new { prompt = "x" }, HttpStatusCode.BadRequest, "model", null },
        { "bad stop", new { model = "BASE", prompt = "x", stop = new[] { 1, 2 } }, HttpStatusCode.BadRequest, "stop",
            null },
        { "bad token id", new { model = "BASE", prompt = new[] { 1, 99999 } }, HttpStatusCode.BadRequest, "prompt",
            null },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_requests_get_openai_errors_with_the_right_status(string what, object body,
        HttpStatusCode status, string? param, string? code)
    {
        var json = JsonSerializer.Serialize(body).Replace("\"BASE\"", JsonSerializer.Serialize(Server.BaseName));
        using var response = await Server.Http.PostAsync("v1/completions",
            new StringContent(json, Encoding.UTF8, "application/json"));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.True(status == response.StatusCode, $"{what}: {response.StatusCode} {error}");
        Assert.Equal(param, error.GetProperty("param").GetString());
        if (code is not null)
            Assert.Equal(code, error.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Malformed_json_missing_or_wrong_keys_and_oversized_bodies_are_refused_in_openai_shape()
    {
        using var malformed = await Server.Http.PostAsync("v1/chat/completions",
            new StringContent("{\"model\": \"x\", \"messages\": [", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal("invalid_request_error",
            JsonDocument.Parse(await malformed.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
            .GetProperty("type").GetString());

        using var anonymous = new HttpClient { BaseAddress = Server.BaseAddress };
        using var missing = await anonymous.GetAsync("v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("missing_api_key",
            JsonDocument.Parse(await missing.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
            .GetProperty("code").GetString());
        anonymous.DefaultRequestHeaders.Authorization = new("Bearer", "sk-wrong");
        using var wrong = await anonymous.PostAsJsonAsync("v1/completions",
            new { model = Server.BaseName, prompt = "x" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal("invalid_api_key",
            JsonDocument.Parse(await wrong.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
            .GetProperty("code").GetString());

        var huge = JsonSerializer.Serialize(new { model = Server.BaseName, prompt = new string('a', 2 << 20) });
        using var upload = new HttpRequestMessage(HttpMethod.Post,
            "v1/completions")
        { Content = new StringContent(huge, Encoding.UTF8, "application/json") };
        upload.Headers.ExpectContinue = true; // the server refuses on Content-Length, before the body is sent
        using var tooLarge = await Server.Http.SendAsync(upload);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("request_too_large",
            JsonDocument.Parse(await tooLarge.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
            .GetProperty("code").GetString());

        using var chatNoMessages = await Server.Http.PostAsJsonAsync("v1/chat/completions",
            new { model = Server.BaseName, messages = Array.Empty<object>() });
        Assert.Equal(HttpStatusCode.BadRequest, chatNoMessages.StatusCode);
    }

    [Fact]
    public async Task Operators_load_and_unload_adapters_the_vllm_way()
    {
        var (status, _) = await PostAsync(Server.Http, "v1/completions",
            new { model = "legal", prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.NotFound, status);
        using var load = await Server.Http.PostAsJsonAsync("v1/load_lora_adapter",
            new { lora_name = "legal", lora_path = fixture.Model.OtherAdapterDirectory });
        Assert.Equal(HttpStatusCode.OK, load.StatusCode);
        var legal = await CompleteAsync("legal", "the happy dog", 20);
        Assert.NotEqual(await CompleteAsync("support", "the happy dog", 20), legal);
        using var again = await Server.Http.PostAsJsonAsync("v1/load_lora_adapter",
            new { lora_name = "legal", lora_path = fixture.Model.OtherAdapterDirectory });
        Assert.Equal(HttpStatusCode.BadRequest, again.StatusCode);
        using var badPath = await Server.Http.PostAsJsonAsync("v1/load_lora_adapter",
            new { lora_name = "x", lora_path = "/nonexistent" });
        Assert.Equal(HttpStatusCode.BadRequest, badPath.StatusCode);
        using var unload = await Server.Http.PostAsJsonAsync("v1/unload_lora_adapter", new { lora_name = "legal" });
        Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        (status, _) = await PostAsync(Server.Http, "v1/completions",
            new { model = "legal", prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.NotFound, status);
    }
}

public sealed class SchedulerTests
{
    [Fact]
    public async Task Background_jobs_take_at_most_half_the_batch_and_never_keep_a_request_waiting()
    {
        using var model = new TestModel();
        var options = new ServingOptions { MaxBatchSize = 4, Threads = 1 };
        using var metrics = new ServingMetrics();
        using var loaded = Engine.LoadedModel.Load(model.ModelDirectory, options, metrics,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Engine.GenerationJob Job(bool background, int tokens) => new([1, 2, 3],
            new FineTune.Models.Generation.GenerationOptions { MaxNewTokens = tokens }, null, CancellationToken.None)
        { Background = background };
        var shadows = Enumerable.Range(0, 6).Select(_ => Job(background: true, tokens: 80)).ToList();
        foreach (var job in shadows)
            Assert.True(loaded.Scheduler.TryEnqueue(job));
        var request = Job(background: false, tokens: 5);
        Assert.True(loaded.Scheduler.TryEnqueue(request));
        var ended = (await request.Events.ReadAllAsync().ToListAsync())[^1];
        Assert.Equal(Engine.JobEnd.Length, ended.End);
        // the request ran beside two shadows (half of the 4 slots) and ended before the other four began
        foreach (var job in shadows.Skip(2))
        {
            var first = await job.Events.ReadAsync();
            Assert.True(first.At > ended.At, "a queued shadow started before the request ended");
        }
        foreach (var job in shadows)
            await foreach (var e in job.Events.ReadAllAsync())
                if (e.End is { } end)
                    Assert.Equal(Engine.JobEnd.Length, end);
    }

    [Fact]
    public async Task A_job_cancelled_while_queued_never_runs_and_ends_cancelled()
    {
        using var model = new TestModel();
        var options = new ServingOptions { MaxBatchSize = 2, Threads = 1 };
        using var metrics = new ServingMetrics();
        using var loaded = Engine.LoadedModel.Load(model.ModelDirectory, options, metrics,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var job = new Engine.GenerationJob([1, 2, 3],
            new FineTune.Models.Generation.GenerationOptions { MaxNewTokens = 10 }, null, cts.Token);
        Assert.True(loaded.Scheduler.TryEnqueue(job));
        var events = new List<Engine.JobEvent>();
        await foreach (var e in job.Events.ReadAllAsync())
            events.Add(e);
        Assert.Equal(Engine.JobEnd.Cancelled, Assert.Single(events).End);

        var live = new Engine.GenerationJob([1, 2, 3],
            new FineTune.Models.Generation.GenerationOptions { MaxNewTokens = 10 }, null, CancellationToken.None);
        Assert.True(loaded.Scheduler.TryEnqueue(live));
        events.Clear();
        await foreach (var e in live.Events.ReadAllAsync())
            events.Add(e);
        Assert.Equal(Engine.JobEnd.Length, events[^1].End);
        Assert.Equal(10, events.Count(e => e.End is null));
        Assert.Equal(0, loaded.Scheduler.ActiveSequences);
    }
}
