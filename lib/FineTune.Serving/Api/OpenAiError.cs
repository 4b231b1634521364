// Errors in OpenAI's shape ({"error": {"message", "type", "param", "code"}}) with the status OpenAI uses for them.
// Handlers throw OpenAiError; the endpoint filter writes it and counts it by type.
namespace FineTune.Serving.Api;

public sealed class OpenAiError(int status, string message, string type = "invalid_request_error",
    string? param = null, string? code = null)
    : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
    public string? Param { get; } = param;
    public string? Code { get; } = code;

    public ErrorResponse Body => new(new ErrorBody(Message, Type, Param, Code));

    public static OpenAiError Invalid(string message, string? param = null, string? code = null) =>
        new(400, message, param: param, code: code);
    public static OpenAiError ModelNotFound(string model) =>
        new(404, $"The model '{model}' does not exist or you do not have access to it. GET /v1/models lists the " +
            $"served models.", param: "model", code: "model_not_found");
    public static OpenAiError Overloaded(string model) =>
        new(429, $"The server is at capacity for '{model}' (its request queue is full). Retry after a short wait.",
            "server_overloaded", code: "queue_full");
    public static OpenAiError Server(string message) => new(500, message, "server_error");
}
