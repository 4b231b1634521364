// One model served on its own (`finetune serve`, tests, the benchmark): a web host with the serving API over a base
// model loaded from disk and any LoRA adapters over it, each adapter served under its own name.
using FineTune.Serving.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving;

public sealed record StandaloneSettings
{
    public required string ModelPath { get; init; }
    /// <summary>The base model's name in the API; defaults to the model directory's name.</summary>
    public string? Name { get; init; }
    public IReadOnlyDictionary<string, string> Adapters { get; init; } = new Dictionary<string, string>();
    public string? TokenizerPath { get; init; }
    public string Url { get; init; } = "http://127.0.0.1:8000";
    /// <summary>Applied over the "Serving" configuration section.</summary>
    public Func<ServingOptions, ServingOptions>? Configure { get; init; }
    public bool AllowAdapterLoading { get; init; } = true;
    public Action<ILoggingBuilder>? Logging { get; init; }
    /// <summary>Host-level additions before the build (`finetune serve` adds the service defaults: OpenTelemetry,
    /// /health).</summary>
    public Action<WebApplicationBuilder>? ConfigureHost { get; init; }
    /// <summary>Endpoints the host adds after the build.</summary>
    public Action<WebApplication>? ConfigureApp { get; init; }
}

public static class StandaloneServer
{
    public static string DefaultName(string modelPath) =>
        Path.GetFileNameWithoutExtension(Path.GetFullPath(modelPath).TrimEnd(Path.DirectorySeparatorChar));

    /// <summary>Builds the host and loads the model; the caller runs it (RunAsync / StartAsync).</summary>
    public static WebApplication Build(StandaloneSettings settings, string[]? args = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args ?? [] });
        builder.WebHost.UseUrls(settings.Url);
        ServingHost.ConfigureServerLimits(builder);
        if (settings.Logging is not null)
            settings.Logging(builder.Logging);
        settings.ConfigureHost?.Invoke(builder);
        builder.Services.AddServing(builder.Configuration, settings.Configure);
        var app = builder.Build();

        var options = app.Services.GetRequiredService<ServingOptions>();
        var catalog = app.Services.GetRequiredService<ModelCatalog>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("FineTune.Serving");
        var model = LoadedModel.Load(settings.ModelPath, options, app.Services.GetRequiredService<ServingMetrics>(),
            logger, settings.TokenizerPath);
        var name = settings.Name ?? DefaultName(settings.ModelPath);
        catalog.AddBase(name, model);
        foreach (var (adapterName, directory) in settings.Adapters)
            catalog.AddAdapter(FineTune.Contracts.ResourceNames.Validate(adapterName, "adapter"), name, directory,
                pinned: true);
        app.Lifetime.ApplicationStopped.Register(catalog.DisposeAll);
        app.MapServing(settings.AllowAdapterLoading);
        settings.ConfigureApp?.Invoke(app);
        return app;
    }
}
