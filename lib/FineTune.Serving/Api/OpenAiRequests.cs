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
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit) limit.MaxRequestBodySize = maxBytes;
        if (http.Request.ContentLength > maxBytes) throw TooLarge(maxBytes);
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(http.Request.Body, OpenAiJson.Options, http.RequestAborted)
                   ?? throw OpenAiError.Invalid("The request body is null; send a JSON object.");
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 2 } path ? path[2..] : null;
            throw OpenAiError.Invalid($"We could not parse the JSON body of your request{(field is null ? "" : $" at '{field}'")}: {FirstLine(e.Message)} " +
                                      "The OpenAI API expects a JSON payload.", field);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge) { throw TooLarge(maxBytes); }
    }

    static OpenAiError TooLarge(long maxBytes) =>
        new(413, $"The request body is larger than this server's limit of {maxBytes} bytes.", code: "request_too_large");

    static string FirstLine(string message) => message.Split('\n')[0].Split(" Path:")[0];
}
