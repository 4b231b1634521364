// Wiring: AddServing registers the catalog, the completion service, keys, rate limits, cache, screen, metrics and the
// OpenAPI document; MapServing maps the OpenAI-compatible routes (+ vLLM's adapter endpoints), readiness, the OpenAPI
// document and its interactive page (Scalar). `finetune serve` and the Deployment service both call these two.
using System.Text.Json;
using System.Threading.RateLimiting;
using FineTune.Serving.Api;
using FineTune.Serving.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Scalar.AspNetCore;

namespace FineTune.Serving;

public static class ServingHost
{
    public const string RateLimitPolicy = "per-api-key";

    public static IServiceCollection AddServing(this IServiceCollection services, IConfiguration configuration,
        Func<ServingOptions, ServingOptions>? configure = null)
    {
        var options = configuration.GetSection(ServingOptions.Section).Get<ServingOptions>() ?? new ServingOptions();
        var keys = options.ApiKeys.ToList();
        if (Environment.GetEnvironmentVariable("FINETUNE_API_KEY") is { Length: > 0 } envKey)
            keys.Add(envKey);
        options = options with { ApiKeys = keys };
        if (configure is not null)
            options = configure(options);
        if (options.RuntimeAdapterLoading && (string.IsNullOrWhiteSpace(options.AdaptersRoot)
            || options.AdminApiKeys.Count == 0))
            throw new InvalidOperationException("Serving:RuntimeAdapterLoading needs Serving:AdaptersRoot (the only " +
                "directory adapters are read from) " +
                                                "and at least one Serving:AdminApiKeys entry (the keys that may " +
                                                    "load them).");
        // a misspelt weight format stops the server at start, naming the choices, not at the first model load
        _ = new FineTune.Models.Inference.CpuLlamaOptions().WithDtype(options.Dtype);
        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new ServingMetrics(sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<ModelCatalog>();
        services.AddSingleton(sp =>
        {
            var cache = new ResponseCache(options.ResponseCacheEntries);
            sp.GetRequiredService<ModelCatalog>().Changed += cache.Invalidate;
            return cache;
        });
        services.TryAddSingleton<IOutputScreen>(new WordListScreen(options.BlockedWords));
        services.AddSingleton(new ApiKeys(options.ApiKeys, options.AdminApiKeys));
        services.AddSingleton<CompletionService>();
        services.AddSingleton<Releases.ReleaseRouter>();
        services.TryAddSingleton<Feedback.IRequestLog, Feedback.NoRequestLog>();
        services.AddSingleton(sp => new Releases.ReleaseMonitor(
            sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddOpenApi("serving");
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(RateLimitPolicy, http =>
            {
                // The limiter runs before the endpoint's key check, so it names the key itself (a bad or missing
                // key shares one bucket; its requests get 401 from the check anyway).
                var key = http.RequestServices.GetRequiredService<ApiKeys>().Check(http.Request).Name
                    ?? "unauthenticated";
                if (options.RequestsPerMinute <= 0)
                    return RateLimitPartition.GetNoLimiter(key);
                return RateLimitPartition.GetTokenBucketLimiter(key, _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.RequestsPerMinute,
                    TokensPerPeriod = 1,
                    ReplenishmentPeriod = TimeSpan.FromMinutes(1) / options.RequestsPerMinute,
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            limiter.OnRejected = async (context, ct) =>
            {
                var http = context.HttpContext;
                if (context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retry))
                    http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retry.TotalSeconds)).ToString();
                var error = new OpenAiError(429,
                    $"Rate limit reached for this API key: {options.RequestsPerMinute} requests per minute. Retry " +
                    $"after a short wait.",
                    "requests", code: "rate_limit_exceeded");
                await WriteErrorAsync(http, error);
            };
        });
        return services;
    }

    /// <summary>Maps /v1/models, /v1/chat/completions, /v1/completions, /v1/load_lora_adapter, /v1/unload_lora_adapter,
    /// /health/ready, /openapi, /docs.</summary>
    /// <param name="hostMapsOpenApi">the host maps /openapi/{documentName}.json itself (the pipeline services do); the
    /// serving document is served there too</param>
    public static WebApplication MapServing(this WebApplication app, bool allowAdapterLoading = true,
        bool hostMapsOpenApi = false)
    {
        var catalog = app.Services.GetRequiredService<ModelCatalog>();
        var options = app.Services.GetRequiredService<ServingOptions>();
        var metrics = app.Services.GetRequiredService<ServingMetrics>();
        metrics.ObserveLoad(() => catalog.All.Where(m => m.Adapter is null && m.Parent is null)
            .Select(m => (m.Id, m.Base.Scheduler.QueueLength, m.Base.Scheduler.ActiveSequences)));
        app.UseRateLimiter();
        // Oversized headers, and statuses the framework answers without a body (an unknown /v1 route, a wrong method),
        // get OpenAI's error shape too.
        app.Use(async (http, next) =>
        {
            long bytes = 0;
            foreach (var (name, values) in http.Request.Headers)
                bytes += name.Length + values.Sum(v => (long)(v?.Length ?? 0));
            if (bytes > options.MaxRequestHeaderBytes)
            {
                await WriteErrorAsync(http,
                    new OpenAiError(431,
                    $"The request headers are {bytes:N0} bytes; the limit is {options.MaxRequestHeaderBytes:N0}.",
                    code: "request_header_fields_too_large"));
                return;
            }
            await next(http);
        });
        app.UseStatusCodePages(async context =>
        {
            var http = context.HttpContext;
            if (!http.Request.Path.StartsWithSegments("/v1"))
                return;
            var where = $"{http.Request.Method} {Clip(http.Request.Path.Value ?? "")}";
            OpenAiError? error = http.Response.StatusCode switch
            {
                404 => new OpenAiError(404, $"Invalid URL ({where}).", code: "unknown_url"),
                405 => new OpenAiError(405, $"Method not allowed ({where}).", code: "method_not_allowed"),
                415 => new OpenAiError(415, "The request's Content-Type must be application/json.",
                    code: "unsupported_media_type"),
                _ => null,
            };
            if (error is not null)
                await WriteErrorAsync(http, error);
        });

        var v1 = app.MapGroup("/v1").AddEndpointFilter(ApiKeyAndErrorsFilter).RequireRateLimiting(RateLimitPolicy)
            .WithTags("OpenAI-compatible");
        v1.MapGet("/models",
            () => Results.Json(new ModelList("list", catalog.All.Select(Card).ToList()), OpenAiJson.Options))
            .WithSummary("The served models: base models, adapters (with their parent) and aliases")
                .Produces<ModelList>();
        v1.MapPost("/chat/completions", (HttpContext http, CompletionService service) => service.ChatAsync(http))
            .WithSummary("Chat completion (OpenAI shape; stream: true for server-sent events)")
            .Accepts<ChatCompletionRequest>("application/json").Produces<ChatCompletion>().Produces<ErrorResponse>(400);
        v1.MapPost("/completions", (HttpContext http, CompletionService service) => service.CompletionsAsync(http))
            .WithSummary("Text completion (OpenAI shape; stream: true for server-sent events)")
            .Accepts<CompletionRequest>("application/json").Produces<TextCompletion>().Produces<ErrorResponse>(400);
        if (app.Services.GetService<Feedback.IFeedbackStore>() is not null)
            v1.MapPost("/feedback", (HttpContext http, Feedback.IFeedbackStore store,
                    Releases.ReleaseMonitor monitor) =>
                    Feedback.FeedbackEndpoint.PostAsync(http, store, monitor, options))
                .WithSummary("Feedback on a recorded answer: a rating (up/down or 1–5 stars), a correction, a " +
                    "comment")
                .Accepts<Feedback.FeedbackRequest>("application/json").Produces<Feedback.FeedbackResponse>()
                .Produces<ErrorResponse>(400).Produces<ErrorResponse>(404);
        if (allowAdapterLoading && options.RuntimeAdapterLoading)
        {
            v1.MapPost("/load_lora_adapter",
                async (HttpContext http, CancellationToken _) =>
                LoadAdapter(http, catalog, options, await ReadAdapterRequestAsync(http)))
                .Accepts<LoadLoraAdapterRequest>("application/json")
                .WithSummary("vLLM's runtime adapter loading: {lora_name, lora_path}");
            v1.MapPost("/unload_lora_adapter",
                async (HttpContext http, CancellationToken _) =>
                UnloadAdapter(http, catalog, await ReadAdapterRequestAsync(http)))
                .Accepts<LoadLoraAdapterRequest>("application/json")
                .WithSummary("vLLM's runtime adapter unloading: {lora_name}");
        }
        // Ready only when a model is loaded. Its own route (not a health check), so a host's /health stays about the
        // host: a Deployment service with nothing promoted yet is healthy but not ready to serve.
        app.MapGet("/health/ready", () => catalog.IsEmpty
            ? Results.Text("no model loaded yet", statusCode: StatusCodes.Status503ServiceUnavailable)
            : Results.Text($"ready: {catalog.All.Count} models")).ExcludeFromDescription();
        if (!hostMapsOpenApi)
            app.MapOpenApi("/openapi/{documentName}.json");
        app.MapScalarApiReference("/docs",
            o => o.WithTitle("FineTune serving API").AddDocument("serving", "serving", "/openapi/serving.json"));
        return app;
    }

    static string Clip(string text) => text.Length <= 80 ? text : text[..80] + "…";

    /// <summary>The web server's header limit above ServingOptions.MaxRequestHeaderBytes, so that limit answers (with a
    /// body).</summary>
    public static void ConfigureServerLimits(WebApplicationBuilder builder) =>
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestHeadersTotalSize = 64 * 1024);

    // root: the served name, never a path on the server's disk.
    static ModelCard Card(ServedModel m) =>
        new(m.Id, "model", m.Created.ToUnixTimeSeconds(), "finetune", m.Parent ?? m.Id, m.Parent,
            m.Base.Scheduler.MaxSequenceLength);

    static Task<LoadLoraAdapterRequest> ReadAdapterRequestAsync(HttpContext http) =>
        OpenAiRequests.ReadJsonAsync<LoadLoraAdapterRequest>(http,
            http.RequestServices.GetRequiredService<ServingOptions>().MaxRequestBytes);

    // Changing what is served is an admin act: other keys may use the models, not replace them.
    static void RequireAdmin(HttpContext http)
    {
        if (!http.RequestServices.GetRequiredService<ApiKeys>().IsAdmin(http.Request))
            throw new OpenAiError(403, "Loading and unloading adapters needs an admin API key (Serving:AdminApiKeys).",
                code: "insufficient_permissions");
    }

    static IResult LoadAdapter(HttpContext http, ModelCatalog catalog, ServingOptions options,
        LoadLoraAdapterRequest request)
    {
        RequireAdmin(http);
        if (string.IsNullOrWhiteSpace(request.LoraName) || string.IsNullOrWhiteSpace(request.LoraPath))
            throw OpenAiError.Invalid("Both 'lora_name' and 'lora_path' must be provided.",
                string.IsNullOrWhiteSpace(request.LoraName) ? "lora_name" : "lora_path");
        if (FineTune.Contracts.ResourceNames.Problem(request.LoraName) is { } problem)
            throw OpenAiError.Invalid($"'lora_name' is not a valid adapter name: {problem}.", "lora_name");
        if (catalog.TryResolve(request.LoraName, out _))
            throw OpenAiError.Invalid($"The lora adapter '{request.LoraName}' has already been loaded.", "lora_name");
        if (catalog.AdapterCount >= options.MaxAdapters)
            throw new OpenAiError(400,
                $"{options.MaxAdapters} adapters are loaded, the most this server holds (Serving:MaxAdapters); " +
                $"unload one first.",
                param: "lora_name", code: "adapter_limit_reached");
        var parent = catalog.All.FirstOrDefault(m => m.Adapter is null && m.Parent is null)
                     ?? throw new OpenAiError(503, "No base model is loaded yet.", "server_error");
        var directory = AdapterFiles.Resolve(options.AdaptersRoot!, request.LoraPath, options.MaxAdapterBytes,
            request.LoraName);
        try
        {
            catalog.AddAdapter(request.LoraName, parent.Id, directory);
        }
        catch (Exception e) when (e is FineTune.Models.ModelFormatException or JsonException
            or InvalidDataException or FormatException
                                      or InvalidOperationException or ArgumentException or KeyNotFoundException
                                          or IOException)
        {
            // The reason, without the file's bytes or where it lives: the loader's messages quote both.
            throw OpenAiError.Invalid($"Adapter '{request.LoraName}' could not be loaded: its files are not a valid " +
                $"PEFT LoRA adapter for " +
                                      $"'{parent.Id}' ({e.GetType().Name}).", "lora_path");
        }
        return Results.Text($"Success: LoRA adapter '{request.LoraName}' added successfully.");
    }

    static IResult UnloadAdapter(HttpContext http, ModelCatalog catalog, LoadLoraAdapterRequest request)
    {
        RequireAdmin(http);
        if (string.IsNullOrWhiteSpace(request.LoraName))
            throw OpenAiError.Invalid("'lora_name' must be provided.", "lora_name");
        if (!catalog.TryResolve(request.LoraName, out var model) || model.Adapter is null)
            throw new OpenAiError(404,
                $"The lora adapter '{FineTune.Contracts.ResourceNames.Shown(request.LoraName)[1..^1]}' cannot be " +
                $"found.",
                param: "lora_name", code: "model_not_found");
        if (model.Pinned)
            throw new OpenAiError(403,
                $"The lora adapter '{request.LoraName}' was loaded at start-up by the operator and cannot be " +
                $"unloaded over HTTP.",
                param: "lora_name", code: "adapter_pinned");
        catalog.Remove(request.LoraName);
        return Results.Text($"Success: LoRA adapter '{request.LoraName}' removed successfully.");
    }

    // Every /v1 request: the API key first, then any OpenAiError (or bad JSON binding) as OpenAI's error shape.
    static async ValueTask<object?> ApiKeyAndErrorsFilter(EndpointFilterInvocationContext context,
        EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var keys = http.RequestServices.GetRequiredService<ApiKeys>();
        var (_, error) = keys.Check(http.Request);
        if (error is not null)
        {
            await WriteErrorAsync(http, error);
            return Results.Empty;
        }
        try
        {
            return await next(context);
        }
        catch (OpenAiError e) when (!http.Response.HasStarted)
        {
            await WriteErrorAsync(http, e);
            return Results.Empty;
        }
        catch (BadHttpRequestException e) when (!http.Response.HasStarted)
        {
            await WriteErrorAsync(http,
                new OpenAiError(e.StatusCode == 413 ? 413 : 400, $"We could not parse the request: {e.Message}"));
            return Results.Empty;
        }
        catch (Exception e) when (!http.Response.HasStarted && e is not OperationCanceledException)
        {
            http.RequestServices.GetRequiredService<ILogger<CompletionService>>().LogError(e, "request failed");
            await WriteErrorAsync(http, OpenAiError.Server("The server had an error while processing your request."));
            return Results.Empty;
        }
    }

    internal static async Task WriteErrorAsync(HttpContext http, OpenAiError error)
    {
        http.RequestServices.GetService<ServingMetrics>()?.RecordError(error.Type, error.Status);
        http.Response.StatusCode = error.Status;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(error.Body, OpenAiJson.Options));
    }
}
