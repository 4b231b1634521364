// Settings of the LLM judge, bindable from configuration ("Judge" section), and the factory that turns them into an
// IChatClient for any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, llama.cpp, Ollama, ...).
using System.ClientModel;
using System.ClientModel.Primitives;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace FineTune.Evals.Judging;

/// <summary>Judge settings; every property has a setter so configuration binding (Get&lt;JudgeOptions&gt;()) fills
/// it.</summary>
public sealed record JudgeOptions
{
    /// <summary>Base URL including the API version segment, e.g. "https://api.openai.com/v1" or
    /// "http://127.0.0.1:8000/v1".</summary>
    public string Endpoint { get; init; } = "https://api.openai.com/v1";

    /// <summary>Judge model name as the endpoint knows it.</summary>
    public string Model { get; init; } = "";

    /// <summary>API key given directly (prefer <see cref="ApiKeyVariable"/> so the key stays out of files).</summary>
    public string? ApiKey { get; init; }

    /// <summary>Environment variable (or secret name mapped to one) read when <see cref="ApiKey"/> is not
    /// set.</summary>
    public string ApiKeyVariable { get; init; } = "OPENAI_API_KEY";

    public int MaxConcurrency { get; init; } = 4;

    /// <summary>Retries after the first attempt, for transport errors (429, 5xx, timeouts) and malformed replies
    /// alike.</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>Limit of one request; a request that takes longer is cancelled and retried.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>First back-off delay, doubled on each retry, when the server sends no Retry-After.</summary>
    public TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Longest back-off or Retry-After honoured.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Folder of cached judgments (one JSON file per SHA-256 key); null disables the cache.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>Never the key itself: options end up in logs and error messages.</summary>
    public override string ToString() =>
        $"JudgeOptions {{ Endpoint = {Endpoint}, Model = {Model}, ApiKey = {(ApiKey is null ? "(none)" : "***")}, " +
        $"ApiKeyVariable = {ApiKeyVariable}, MaxConcurrency = {MaxConcurrency}, MaxRetries = {MaxRetries}, " +
        $"Timeout = {Timeout} }}";

    /// <summary>The key from <see cref="ApiKey"/>, else from the environment variable, else a placeholder
    /// (local servers usually need none, but the OpenAI client refuses an empty credential).</summary>
    public string ResolveApiKey()
    {
        if (!string.IsNullOrWhiteSpace(ApiKey))
            return ApiKey;
        var fromEnvironment = string.IsNullOrWhiteSpace(ApiKeyVariable) ? null
            : Environment.GetEnvironmentVariable(ApiKeyVariable);
        return string.IsNullOrWhiteSpace(fromEnvironment) ? "no-key" : fromEnvironment;
    }

    /// <summary>Throws ArgumentException naming the first invalid setting.</summary>
    public void Validate()
    {
        if (!Uri.TryCreate(Endpoint, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            throw new ArgumentException($"Judge Endpoint must be an absolute http(s) URL, got '{Endpoint}'.");
        if (string.IsNullOrWhiteSpace(Model))
            throw new ArgumentException("Judge Model is required.");
        if (MaxConcurrency < 1)
            throw new ArgumentException($"Judge MaxConcurrency must be at least 1, got {MaxConcurrency}.");
        if (MaxRetries < 0)
            throw new ArgumentException($"Judge MaxRetries must not be negative, got {MaxRetries}.");
        if (Timeout <= TimeSpan.Zero)
            throw new ArgumentException($"Judge Timeout must be positive, got {Timeout}.");
        if (RetryBaseDelay < TimeSpan.Zero || MaxRetryDelay < TimeSpan.Zero)
            throw new ArgumentException("Judge retry delays must not be negative.");
    }
}

public static class JudgeClientFactory
{
    /// <summary>An IChatClient over the OpenAI client pointed at <see cref="JudgeOptions.Endpoint"/>. The client's own
    /// retries are off: <see cref="Judge"/> retries itself, so that malformed replies and transport errors share one
    /// budget.</summary>
    public static IChatClient Create(JudgeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = new Uri(options.Endpoint),
            NetworkTimeout = options.Timeout,
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        };
        return new ChatClient(options.Model, new ApiKeyCredential(options.ResolveApiKey()),
            clientOptions).AsIChatClient();
    }
}
