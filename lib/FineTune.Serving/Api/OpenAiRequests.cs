// Reads a request body as JSON the way every /v1 route does: the body size limit (413 on Content-Length or while
// reading), and bad JSON as a 400 naming where it broke.
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace FineTune.Serving.Api;

internal static class OpenAiRequests
{
    public static async Task<T> ReadJsonAsync<T>(HttpContext http, long maxBytes) where T : class
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            limit.MaxRequestBodySize = maxBytes;
        if (http.Request.ContentLength > maxBytes)
            throw TooLarge(maxBytes);
        if (http.Request.ContentType is { Length: > 0 } type && !IsJson(type))
            throw new OpenAiError(415,
                $"The request's Content-Type must be application/json (it is " +
                $"'{FirstLine(type)[..Math.Min(64, type.Length)]}').",
                code: "unsupported_media_type");
        byte[] body;
        try
        {
            using var buffer = new MemoryStream();
            await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
            body = buffer.ToArray();
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw TooLarge(maxBytes);
        }
        if (body.LongLength > maxBytes)
            throw TooLarge(maxBytes);
        // Invalid UTF-8, or an escaped lone surrogate in a string: text no JSON string can hold. Found here, before any
        // field is read, so no later read of a string can fail as a server error.
        if (!System.Text.Unicode.Utf8.IsValid(body))
            throw NotText();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException e)
        {
            throw Unparsable(e);
        }
        using (document)
        {
            if (!StringsDecode(document.RootElement))
                throw NotText();
            try
            {
                return document.Deserialize<T>(OpenAiJson.Options)
                    ?? throw OpenAiError.Invalid("The request body is null; send a JSON object.");
            }
            catch (JsonException e)
            {
                throw Unparsable(e);
            }
        }
    }

    static OpenAiError NotText() =>
        OpenAiError.Invalid("The request body is not valid UTF-8 JSON text (invalid bytes, or an unpaired surrogate " +
            "in a string).");

    static OpenAiError Unparsable(JsonException e)
    {
        var field = e.Path is { Length: > 2 } path ? path[2..] : null;
        return OpenAiError.Invalid($"We could not parse the JSON body of your " +
            $"request{(field is null ? "" : $" at '{field}'")}: {FirstLine(e.Message)} " +
                                   "The OpenAI API expects a JSON payload.", field);
    }

    // Every property name and string value decodes to valid UTF-16 (GetString throws on an escaped lone surrogate).
    static bool StringsDecode(JsonElement element)
    {
        try
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.String:
                    _ = element.GetString();
                    return true;
                case JsonValueKind.Array:
                    return element.EnumerateArray().All(StringsDecode);
                case JsonValueKind.Object:
                    return element.EnumerateObject().All(p => p.Name is not null
                    && StringsDecode(p.Value));
                default:
                    return true;
            }
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    static bool IsJson(string contentType)
    {
        var media = contentType.Split(';')[0].Trim();
        return media.Equals("application/json", StringComparison.OrdinalIgnoreCase) || media.EndsWith("+json",
            StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>Checks <c>metadata</c> (OpenAI's limits) and returns its label, category or class value, the names the
    /// data stages read a record's label from (null: none).</summary>
    public static string? Label(GenerationRequest r)
    {
        if (r.Metadata is not { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } metadata)
            return null;
        if (metadata.ValueKind != JsonValueKind.Object)
            throw OpenAiError.Invalid("'metadata' must be an object of string values.", "metadata");
        int count = 0;
        string? label = null;
        foreach (var pair in metadata.EnumerateObject())
        {
            if (++count > 16)
                throw OpenAiError.Invalid("'metadata' holds at most 16 pairs.", "metadata");
            if (pair.Name.Length is 0 or > 64)
                throw OpenAiError.Invalid("a 'metadata' key has 1 to 64 characters.", "metadata");
            if (pair.Value.ValueKind != JsonValueKind.String || pair.Value.GetString()!.Length > 512)
                throw OpenAiError.Invalid($"metadata.{pair.Name} must be a string of at most 512 characters.",
                    $"metadata.{pair.Name}");
            if (pair.Name is "label" or "category" or "class")
                label ??= pair.Value.GetString();
        }
        return label;
    }

    /// <summary>Refuses the OpenAI options this server does not implement (400 naming the field), unless they are sent
    /// with the value that changes nothing (an empty logit_bias, best_of 1, top_logprobs 0, no tools).</summary>
    public static void RefuseUnsupported(GenerationRequest r)
    {
        static bool Set(JsonElement? e) => e is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) };
        static void Refuse(string field, string why) =>
            throw OpenAiError.Invalid($"'{field}' is not supported by this server: {why}.", field);
        if (Set(r.Tools) && !(r.Tools!.Value.ValueKind == JsonValueKind.Array && r.Tools.Value.GetArrayLength() == 0))
            Refuse("tools", "tool calling is not implemented");
        if (Set(r.Functions))
            Refuse("functions", "function calling is not implemented");
        if (Set(r.ToolChoice) && !(r.ToolChoice!.Value.ValueKind == JsonValueKind.String
            && r.ToolChoice.Value.GetString() == "none"))
            Refuse("tool_choice", "tool calling is not implemented (only \"none\")");
        if (Set(r.FunctionCall) && !(r.FunctionCall!.Value.ValueKind == JsonValueKind.String
            && r.FunctionCall.Value.GetString() == "none"))
            Refuse("function_call", "function calling is not implemented (only \"none\")");
        if (Set(r.LogitBias) && !(r.LogitBias!.Value.ValueKind == JsonValueKind.Object
            && !r.LogitBias.Value.EnumerateObject().Any()))
            Refuse("logit_bias", "biasing tokens is not implemented");
        if (Set(r.BestOf) && !(r.BestOf!.Value.ValueKind == JsonValueKind.Number
            && r.BestOf.Value.TryGetInt32(out var best) && best == 1))
            Refuse("best_of", "only best_of 1 is served");
        if (Set(r.TopLogprobs) && !(r.TopLogprobs!.Value.ValueKind == JsonValueKind.Number
            && r.TopLogprobs.Value.TryGetInt32(out var top) && top == 0))
            Refuse("top_logprobs", "log probabilities are not returned");
    }

    static OpenAiError TooLarge(long maxBytes) =>
        new(413, $"The request body is larger than this server's limit of {maxBytes} bytes.",
            code: "request_too_large");

    static string FirstLine(string message) => message.Split('\n')[0].Split(" Path:")[0];
}
