// The official OpenAI .NET client and Microsoft.Extensions.AI's OpenAI chat client, unchanged, against the server:
// chat and text completions, streaming and not, usage counts, finish reasons, the model list with adapter parents.
using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace FineTune.Serving.Tests;

[Collection("serving")]
public sealed class OpenAiClientTests(ServingFixture fixture)
{
    ServerHandle Server => fixture.Server;

    OpenAIClient Client() =>
        new(new ApiKeyCredential(ServerHandle.Key),
        new OpenAIClientOptions { Endpoint = new Uri(Server.BaseAddress, "v1") });

    [Fact]
    public async Task The_official_client_gets_chat_completions_whole_and_streamed_alike()
    {
        var chat = Client().GetChatClient(Server.BaseName);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 12 };
        OpenAI.Chat.ChatMessage[] messages = [new SystemChatMessage("You tell stories."),
            new UserChatMessage("Tell me about the cat.")];

        ChatCompletion whole = await chat.CompleteChatAsync(messages, options);
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, whole.FinishReason);
        Assert.Equal(12, whole.Usage.OutputTokenCount);
        Assert.True(whole.Usage.InputTokenCount > 5);
        Assert.Equal(whole.Usage.InputTokenCount + 12, whole.Usage.TotalTokenCount);
        var text = Assert.Single(whole.Content).Text;
        Assert.False(string.IsNullOrEmpty(text));

        var streamed = new System.Text.StringBuilder();
        OpenAI.Chat.ChatFinishReason? finish = null;
        int chunks = 0;
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            chunks++;
            foreach (var part in update.ContentUpdate)
                streamed.Append(part.Text);
            finish ??= update.FinishReason;
            usage ??= update.Usage;
        }
        Assert.Equal(text, streamed.ToString());  // temperature 0: the same tokens, streamed
        Assert.Equal(OpenAI.Chat.ChatFinishReason.Length, finish);
        Assert.True(chunks > 3, $"{chunks} chunks: not streamed token by token");
        Assert.Equal(12, usage?.OutputTokenCount);   // the client asks for include_usage
    }

    [Fact]
    public async Task Microsoft_Extensions_AI_chat_client_works_unchanged()
    {
        IChatClient client = Client().GetChatClient(Server.BaseName).AsIChatClient();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 10 };
        var response = await client.GetResponseAsync("Once upon a time", options);
        Assert.False(string.IsNullOrEmpty(response.Text));
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Length, response.FinishReason);
        Assert.Equal(10, response.Usage?.OutputTokenCount);

        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync("Once upon a time",
            options))
            streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }

    [Fact]
    public async Task Text_completions_through_the_official_client_and_raw_sse()
    {
        var body = new { model = Server.BaseName, prompt = "the cat sat", max_tokens = 6, temperature = 0, n = 2 };
        using var whole = await Server.Http.PostAsJsonAsync("v1/completions", body);
        Assert.Equal(System.Net.HttpStatusCode.OK, whole.StatusCode);
        var json = JsonDocument.Parse(await whole.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("text_completion", json.GetProperty("object").GetString());
        var choices = json.GetProperty("choices");
        Assert.Equal(2, choices.GetArrayLength());
        // greedy: n identical
        Assert.Equal(choices[0].GetProperty("text").GetString(), choices[1].GetProperty("text").GetString());
        Assert.Equal(12, json.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions");
        request.Content = JsonContent.Create(new
        {
            model = Server.BaseName, prompt = "the cat sat", max_tokens = 6,
            temperature = 0, stream = true
        });
        using var stream = await Server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        var lines = (await stream.Content.ReadAsStringAsync()).Split('\n').Where(l =>
            l.StartsWith("data: ")).Select(l => l[6..]).ToList();
        Assert.Equal("[DONE]", lines[^1]);
        var text = string.Concat(lines[..^1].Select(l =>
            JsonDocument.Parse(l).RootElement.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(choices[0].GetProperty("text").GetString(), text);
        Assert.Equal("length",
            JsonDocument.Parse(lines[^2]).RootElement.GetProperty("choices")[0].GetProperty("finish_reason")
            .GetString());
    }

    [Fact]
    public async Task Models_list_the_base_and_each_adapter_with_its_parent()
    {
        var json = JsonDocument.Parse(await Server.Http.GetStringAsync("v1/models")).RootElement;
        Assert.Equal("list", json.GetProperty("object").GetString());
        var models = json.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!);
        Assert.Equal(JsonValueKind.Null, models[Server.BaseName].GetProperty("parent").ValueKind);
        Assert.Equal(Server.BaseName, models["support"].GetProperty("parent").GetString());
        Assert.Equal("model", models["support"].GetProperty("object").GetString());
        Assert.Equal(96, models["support"].GetProperty("max_model_len").GetInt32());

        var listed = (await Client().GetOpenAIModelClient().GetModelsAsync()).Value.Select(m => m.Id).ToList();
        Assert.Contains("support", listed);
        Assert.Contains(Server.BaseName, listed);
    }
}
