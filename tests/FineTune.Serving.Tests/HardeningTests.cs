// Issue 16, tried as an attacker and a careless client would: runtime adapter loading is off unless enabled and then an
// admin act confined to one directory of regular, bounded files; operator adapters stay; errors carry no paths or file
// bytes; malformed bodies, wrong methods, content types and oversized headers get 4xx in OpenAI's shape; options the
// server does not implement are refused by name.
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using FineTune.Serving.Api;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class HardeningTests(ServingFixture fixture) : IAsyncLifetime
{
    const string UserKey = "sk-user-not-admin";
    readonly TempDir _root = new();
    ServerHandle _server = null!;
    HttpClient _user = null!;

    public async Task InitializeAsync()
    {
        _server = await ServerHandle.StartAsync(fixture.Model, o => o with
        {
            ApiKeys = [.. o.ApiKeys, UserKey],
            AdaptersRoot = _root.Path,
            MaxAdapters = 3,
        });
        _user = new HttpClient { BaseAddress = _server.BaseAddress };
        _user.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", UserKey);
    }

    public async Task DisposeAsync()
    {
        _user.Dispose();
        await _server.DisposeAsync();
        _root.Dispose();
    }

    // An adapter copied into the adapters root under this name.
    string Adapter(string name)
    {
        var dir = Path.Combine(_root.Path, name);
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(fixture.Model.OtherAdapterDirectory))
            File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        return dir;
    }

    static async Task<(HttpStatusCode Status, string Body)> Post(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsJsonAsync(path, body);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    static string Code(string body) =>
        JsonDocument.Parse(body).RootElement.GetProperty("error").TryGetProperty("code",
        out var c) ? c.GetString() ?? "" : "";

    [Fact]
    public async Task Runtime_loading_is_off_unless_the_operator_enables_it()
    {
        await using var plain = await ServerHandle.StartAsync(fixture.Model,
            o => o with { RuntimeAdapterLoading = false });
        var (status, body) = await Post(plain.Http, "v1/load_lora_adapter",
            new { lora_name = "x", lora_path = fixture.Model.OtherAdapterDirectory });
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("unknown_url", Code(body));   // OpenAI's error shape, not an empty 404
    }

    [Fact]
    public async Task Only_admin_keys_load_or_unload_and_operator_adapters_cannot_be_replaced()
    {
        var dir = Adapter("legal");
        var (status, body) = await Post(_user, "v1/load_lora_adapter",
            new { lora_name = "legal", lora_path = "legal" });
        Assert.Equal((HttpStatusCode.Forbidden, "insufficient_permissions"), (status, Code(body)));
        (status, body) = await Post(_user, "v1/unload_lora_adapter", new { lora_name = "support" });
        Assert.Equal(HttpStatusCode.Forbidden, status);
        // The operator's adapter: not unloadable, not replaceable under its name.
        (status, body) = await Post(_server.Http, "v1/unload_lora_adapter", new { lora_name = "support" });
        Assert.Equal((HttpStatusCode.Forbidden, "adapter_pinned"), (status, Code(body)));
        (status, _) = await Post(_server.Http, "v1/load_lora_adapter",
            new { lora_name = "support", lora_path = "legal" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        // An admin loads by a path relative to the root, and the user key may then use it.
        (status, body) = await Post(_server.Http, "v1/load_lora_adapter",
            new { lora_name = "legal", lora_path = "legal" });
        Assert.True(status == HttpStatusCode.OK, body);
        (status, _) = await Post(_user, "v1/completions", new { model = "legal", prompt = "the cat", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(Directory.Exists(dir));
    }

    [Fact]
    public async Task Paths_outside_the_root_links_pipes_devices_and_oversized_files_are_refused_without_echoing_them()
    {
        var outside = Adapter("..outside-copy");   // a real adapter, reached only by a link below
        Directory.CreateSymbolicLink(Path.Combine(_root.Path, "linked"), outside);
        var pipe = Adapter("pipe");
        File.Delete(Path.Combine(pipe, "adapter_config.json"));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", Path.Combine(pipe, "adapter_config.json")))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }
        var zero = Adapter("zero");
        File.Delete(Path.Combine(zero, "adapter_config.json"));
        File.CreateSymbolicLink(Path.Combine(zero, "adapter_config.json"), "/dev/zero");
        var big = Adapter("big");
        File.WriteAllBytes(Path.Combine(big, "adapter_config.json"), new byte[64 * 1024 * 1024]);
        var garbage = Adapter("garbage");
        File.WriteAllText(Path.Combine(garbage, "adapter_config.json"), "SECRET-MARKER not json at all");
        var wrongTypes = Adapter("wrong-types");
        File.WriteAllText(Path.Combine(wrongTypes, "adapter_config.json"),
            """{ "peft_type": "LORA", "r": "16", "lora_alpha": 8, "target_modules": [1, 2] }""");

        foreach (var path in new[] { "/etc", "../..", "legal/../../etc", _root.Path, "linked", "pipe", "zero", "big",
            "garbage", "wrong-types", "missing" })
        {
            // a FIFO must not hang the request
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            using var response = await _server.Http.PostAsJsonAsync("v1/load_lora_adapter",
                new { lora_name = "probe", lora_path = path }, timeout.Token);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error")
                .GetProperty("message").GetString()!;
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{path}: {(int)response.StatusCode} {body}");
            Assert.DoesNotContain(_root.Path, body);
            Assert.DoesNotContain("SECRET-MARKER", body);
            Assert.DoesNotContain("/etc", body);
            // the error names the adapter
            Assert.True(body.Contains("'probe'", StringComparison.Ordinal), $"{path}: {body}");
        }
        Assert.False(_server.Catalog.TryResolve("probe", out _));
    }

    [Fact]
    public async Task Names_and_the_number_of_adapters_are_bounded()
    {
        Adapter("one");
        Adapter("two");
        Adapter("three");
        var (status, body) = await Post(_server.Http, "v1/load_lora_adapter",
            new { lora_name = "Bad Name!", lora_path = "one" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("lora_name", body);
        (status, _) = await Post(_server.Http, "v1/load_lora_adapter",
            new { lora_name = new string('a', 65), lora_path = "one" });
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(HttpStatusCode.OK,
            (await Post(_server.Http, "v1/load_lora_adapter", new { lora_name = "one", lora_path = "one" })).Status);
        Assert.Equal(HttpStatusCode.OK,
            (await Post(_server.Http, "v1/load_lora_adapter", new { lora_name = "two", lora_path = "two" })).Status);
        // support + 2 = 3
        (status, body) = await Post(_server.Http, "v1/load_lora_adapter",
            new { lora_name = "three", lora_path = "three" });
        Assert.Equal((HttpStatusCode.BadRequest, "adapter_limit_reached"), (status, Code(body)));
    }

    [Fact]
    public async Task The_model_list_shows_names_not_server_paths()
    {
        var models = JsonDocument.Parse(await _server.Http.GetStringAsync("v1/models")).RootElement.GetProperty("data");
        Assert.All(models.EnumerateArray(), m => Assert.DoesNotContain("/", m.GetProperty("root").GetString()));
    }

    [Fact]
    public async Task Bodies_methods_content_types_and_headers_the_server_cannot_take_get_4xx_in_openai_shape()
    {
        async Task Expect(HttpRequestMessage request, HttpStatusCode expected)
        {
            using var response = await _server.Http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == expected,
                $"{request.Method} {request.RequestUri}: {(int)response.StatusCode} {body}");
            Assert.True(JsonDocument.Parse(body).RootElement.TryGetProperty("error", out _), body);
        }
        HttpRequestMessage Raw(byte[] bytes, string type = "application/json") =>
            new(HttpMethod.Post,
                "v1/completions")
            {
                Content = new ByteArrayContent(bytes)
                {
                    Headers = { ContentType = MediaTypeHeaderValue.Parse(type) }
                }
            };

        var prefix = Encoding.UTF8.GetBytes($"{{\"model\": \"{_server.BaseName}\", \"prompt\": \"");
        await Expect(Raw([.. prefix, 0xC3, 0x28, .. "\"}"u8.ToArray()]), HttpStatusCode.BadRequest);   // invalid UTF-8
        // lone surrogate
        await Expect(Raw([.. prefix, .. "\\ud800 alone\"}"u8.ToArray()]), HttpStatusCode.BadRequest);
        await Expect(new HttpRequestMessage(HttpMethod.Get, "v1/chat/completions"), HttpStatusCode.MethodNotAllowed);
        await Expect(Raw("{}"u8.ToArray(), "text/plain"), HttpStatusCode.UnsupportedMediaType);
        await Expect(new HttpRequestMessage(HttpMethod.Post, "v1/nothing-here"), HttpStatusCode.NotFound);
        var huge = new HttpRequestMessage(HttpMethod.Get, "v1/models");
        huge.Headers.Add("X-Filler", new string('x', 20_000));
        await Expect(huge, (HttpStatusCode)431);
    }

    [Theory]
    [InlineData("tools", """[{"type": "function", "function": {"name": "f"}}]""")]
    [InlineData("logit_bias", """{"50256": -100}""")]
    [InlineData("top_logprobs", "3")]
    [InlineData("tool_choice", "\"auto\"")]
    public async Task Options_the_server_does_not_implement_are_refused_by_name(string field, string value)
    {
        var body =
            $$"""{"model": "{{_server.BaseName}}", "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}], "{{field}}": {{value}}}""";
        using var response = await _server.Http.PostAsync("v1/chat/completions",
            new StringContent(body, Encoding.UTF8, "application/json"));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, error.GetProperty("param").GetString());
        // The value that changes nothing stays accepted.
        var neutral =
            $$$"""{"model": "{{{_server.BaseName}}}", "max_tokens": 2, "prompt": "hi", "best_of": 1, "logit_bias": {}, "response_format": {"type": "text"}}""";
        using var ok = await _server.Http.PostAsync("v1/completions",
            new StringContent(neutral, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }

    [Theory]
    [InlineData("\"gold\"", "metadata")]
    [InlineData("{\"tier\": 3}", "metadata.tier")]
    [InlineData("{\"note\": \"LONG\"}", "metadata.note")]
    [InlineData("{\"KEY\": \"x\"}", "metadata")]
    [InlineData("MANY", "metadata")]
    public async Task Metadata_beyond_openai_s_limits_is_refused_and_within_them_accepted(string metadata, string param)
    {
        metadata = metadata.Replace("LONG", new string('x', 513)).Replace("KEY", new string('k', 65)).Replace("MANY",
            "{" + string.Join(", ", Enumerable.Range(0, 17).Select(i => $"\"k{i}\": \"v\"")) + "}");
        var body =
            $$"""{"model": "{{_server.BaseName}}", "max_tokens": 2, "prompt": "hi", "metadata": {{metadata}}}""";
        using var response = await _server.Http.PostAsync("v1/completions",
            new StringContent(body, Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(param, JsonDocument.Parse(text).RootElement.GetProperty("error").GetProperty("param").GetString());

        using var ok = await _server.Http.PostAsJsonAsync("v1/chat/completions", new
        {
            model = _server.BaseName, max_tokens = 2, messages = new[] { new { role = "user", content = "hi" } },
            metadata = new { category = "refund", note = new string('x', 512) },
        });
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
