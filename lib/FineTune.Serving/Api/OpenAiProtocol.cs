// OpenAI's request and response shapes for /v1/chat/completions, /v1/completions and /v1/models (snake_case JSON),
// plus vLLM's adapter-loading requests. Polymorphic fields (content, prompt, stop) stay JsonElement and are read by
// RequestReader, which names the field and what was expected when they are wrong.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Serving.Api;

public static class OpenAiJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        NumberHandling = JsonNumberHandling.Strict,
    };
}

/// <summary>What chat and text completion requests share.</summary>
public abstract class GenerationRequest
{
    public string? Model { get; set; }
    public int? MaxTokens { get; set; }
    public float? Temperature { get; set; }
    public float? TopP { get; set; }
    public int? N { get; set; }
    public bool? Stream { get; set; }
    public StreamOptionsDto? StreamOptions { get; set; }
    public JsonElement? Stop { get; set; }
    public int? Seed { get; set; }
    public float? FrequencyPenalty { get; set; }
    public float? PresencePenalty { get; set; }
    public string? User { get; set; }
    /// <summary>OpenAI's free key/value pairs (up to 16; keys up to 64 characters, string values up to 512); a label,
    /// category or class among them is the request's label for drift monitoring.</summary>
    public JsonElement? Metadata { get; set; }
    /// <summary>text, json_object or json_schema (read by ResponseFormats).</summary>
    public JsonElement? ResponseFormat { get; set; }

    // Options this server does not implement: read only so that a request using them is refused, never silently served
    // as if they had been honoured (RequestChecks.RefuseUnsupported).
    public JsonElement? Tools { get; set; }
    public JsonElement? ToolChoice { get; set; }
    public JsonElement? Functions { get; set; }
    public JsonElement? FunctionCall { get; set; }
    public JsonElement? LogitBias { get; set; }
    public JsonElement? TopLogprobs { get; set; }
    public JsonElement? BestOf { get; set; }
}

public sealed class ChatCompletionRequest : GenerationRequest
{
    public List<ChatMessageDto>? Messages { get; set; }
    public int? MaxCompletionTokens { get; set; }
    public bool? Logprobs { get; set; }
}

public sealed class ChatMessageDto
{
    public string? Role { get; set; }
    public JsonElement? Content { get; set; }
    public string? Name { get; set; }
}

public sealed class StreamOptionsDto
{
    public bool? IncludeUsage { get; set; }
}

public sealed class CompletionRequest : GenerationRequest
{
    public JsonElement? Prompt { get; set; }
    public bool? Echo { get; set; }
    public string? Suffix { get; set; }
    public int? Logprobs { get; set; }
}

public sealed record Usage(int PromptTokens, int CompletionTokens, int TotalTokens);

public sealed record AssistantMessage(string Role, string Content);
public sealed record ChatChoice(int Index, AssistantMessage Message, string FinishReason, object? Logprobs = null);
public sealed record ChatCompletion(string Id, string Object, long Created, string Model,
    IReadOnlyList<ChatChoice> Choices, Usage Usage,
    string SystemFingerprint);

public sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);
public sealed record ChatChunkChoice(int Index, ChatDelta Delta, string? FinishReason, object? Logprobs = null);
public sealed record ChatCompletionChunk(string Id, string Object, long Created, string Model,
    IReadOnlyList<ChatChunkChoice> Choices,
    string SystemFingerprint,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage = null);

public sealed record TextChoice(string Text, int Index, object? Logprobs, string? FinishReason);
public sealed record TextCompletion(string Id, string Object, long Created, string Model,
    IReadOnlyList<TextChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] Usage? Usage, string SystemFingerprint);

public sealed record ModelCard(string Id, string Object, long Created, string OwnedBy, string Root, string? Parent,
    int MaxModelLen);
public sealed record ModelList(string Object, IReadOnlyList<ModelCard> Data);

public sealed class LoadLoraAdapterRequest
{
    public string? LoraName { get; set; }
    public string? LoraPath { get; set; }
}

public sealed record ErrorBody(string Message, string Type, string? Param, string? Code);
public sealed record ErrorResponse(ErrorBody Error);
