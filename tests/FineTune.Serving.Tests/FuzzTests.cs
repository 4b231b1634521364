// Random and mutated OpenAI requests against every /v1 route (fixed seed, bounded in count and time): whatever arrives,
// the answer is never a 5xx, and the server still answers a plain request afterwards.
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class FuzzTests(ServingFixture fixture)
{
    static readonly string[] Fields =
    [
        "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "n", "stop",
            "stream",
        "stream_options", "seed", "echo", "suffix", "logprobs", "top_logprobs", "tools", "tool_choice",
            "response_format",
        "logit_bias", "best_of", "user", "frequency_penalty", "presence_penalty", "lora_name", "lora_path", "role",
            "content",
    ];
    static readonly string[] Routes = ["v1/completions", "v1/chat/completions", "v1/models", "v1/load_lora_adapter",
        "v1/unload_lora_adapter", "v1/x"];

    [Fact]
    public async Task Random_and_mutated_requests_never_get_a_server_error()
    {
        await using var server = await ServerHandle.StartAsync(fixture.Model, o => o with { MaxQueueLength = 256 });
        var rng = new Random(20261205);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        var failures = new List<string>();
        int sent = 0;
        for (; sent < 400 && DateTime.UtcNow < deadline; sent++)
        {
            var route = Routes[rng.Next(Routes.Length)];
            byte[] body = rng.Next(3) switch
            {
                0 => Encoding.UTF8.GetBytes(RandomValue(rng, 0, server.BaseName)?.ToJsonString() ?? "null"),
                1 => Mutate(rng, Encoding.UTF8.GetBytes(Valid(rng, route, server.BaseName).ToJsonString())),
                _ => Encoding.UTF8.GetBytes(WithRandomField(rng, Valid(rng, route, server.BaseName),
                    server.BaseName).ToJsonString()),
            };
            var method = rng.Next(10) == 0 ? HttpMethod.Get : HttpMethod.Post;
            using var request = new HttpRequestMessage(method, route) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(rng.Next(12) == 0 ? "text/plain"
                : "application/json");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await server.Http.SendAsync(request, timeout.Token);
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            if ((int)response.StatusCode >= 500)
                failures.Add($"{method} {route} {Encoding.UTF8.GetString(body)[..Math.Min(300, body.Length)]} -> " +
                    $"{(int)response.StatusCode} {text[..Math.Min(300, text.Length)]}");
        }
        Assert.True(failures.Count == 0,
            $"{failures.Count} of {sent} requests got a 5xx:\n" + string.Join("\n", failures.Take(10)));
        Assert.True(sent >= 100, $"only {sent} requests in the time bound");

        // Still healthy and serving.
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health/ready")).StatusCode);
        using var plain = await server.Http.PostAsync("v1/completions", new StringContent(
            $$"""{"model": "{{server.BaseName}}", "prompt": "the cat", "max_tokens": 4}""", Encoding.UTF8,
                "application/json"));
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
    }

    static JsonObject Valid(Random rng, string route, string model) => route switch
    {
        "v1/chat/completions" => new JsonObject
        {
            ["model"] = rng.Next(5) == 0 ? "support" : model, ["max_tokens"] = rng.Next(1, 8),
            ["temperature"] = rng.NextDouble(),
            ["stream"] = rng.Next(3) == 0,
            ["messages"] = new JsonArray(new JsonObject
            {
                ["role"] = "user",
                ["content"] = "the cat sat <|im_end|> on"
            }),
        },
        "v1/load_lora_adapter" or "v1/unload_lora_adapter" =>
            new JsonObject { ["lora_name"] = $"a{rng.Next(4)}", ["lora_path"] = "adapter-legal" },
        _ => new JsonObject
        {
            ["model"] = model, ["prompt"] = "once upon", ["max_tokens"] = rng.Next(1, 8),
            ["n"] = rng.Next(1, 3)
        },
    };

    static JsonObject WithRandomField(Random rng, JsonObject request, string model)
    {
        for (int i = rng.Next(1, 4); i > 0; i--)
            request[Fields[rng.Next(Fields.Length)]] = RandomValue(rng, 1, model);
        return request;
    }

    static JsonNode? RandomValue(Random rng, int depth, string model) => (depth > 3 ? rng.Next(6) : rng.Next(9)) switch
    {
        0 => null,
        1 => JsonValue.Create(rng.Next(2) == 0),
        2 => JsonValue.Create(rng.Next(4) switch { 0 => -1L, 1 => long.MaxValue, 2 => 0L, _ => rng.Next(-5, 5000) }),
        3 => JsonValue.Create(rng.Next(3) switch { 0 => 1e308, 1 => -0.5, _ => rng.NextDouble() * 3 }),
        4 => JsonValue.Create(rng.Next(5) switch
        {
            0 => model,
            1 =>
                new string('x', rng.Next(1, 5000)),
            2 => "\u202e<|im_start|>system\n",
            3 => "",
            _ => "ünïcødé 🐈 \t\n",
        }),
        5 => JsonValue.Create(rng.Next(1000).ToString()),
        6 => new JsonArray(Enumerable.Range(0, rng.Next(4)).Select(_ => RandomValue(rng, depth + 1, model)).ToArray()),
        _ => new JsonObject(Enumerable.Range(0,
            rng.Next(4)).Select(_ => KeyValuePair.Create(Fields[rng.Next(Fields.Length)] + rng.Next(3),
            RandomValue(rng, depth + 1, model))).DistinctBy(p => p.Key)),
    };

    // Byte-level damage: flips, cuts, stray bytes that are not UTF-8, repeated runs.
    static byte[] Mutate(Random rng, byte[] bytes)
    {
        var list = bytes.ToList();
        for (int i = rng.Next(1, 5); i > 0 && list.Count > 0; i--)
            switch (rng.Next(4))
            {
                case 0:
                    list[rng.Next(list.Count)] = (byte)rng.Next(256);
                    break;
                case 1:
                    int from = rng.Next(list.Count);
                    list.RemoveRange(from, Math.Min(rng.Next(1, 20), list.Count - from));
                    break;
                case 2:
                    list.Insert(rng.Next(list.Count), (byte)(0x80 + rng.Next(0x40)));
                    break;
                default:
                    int at = rng.Next(list.Count), length = Math.Min(rng.Next(1, 30), list.Count - at);
                    list.InsertRange(at, list.GetRange(at, length));
                    break;
            }
        return [.. list];
    }
}
