// Defaults every FineTune service host shares: OpenTelemetry (logs, metrics, traces, OTLP export), health checks with
// /health and /alive, and resilient, service-discovering HttpClients. A host starts with builder.AddServiceDefaults()
// and ends with app.MapDefaultEndpoints(). Shaped after the Aspire service-defaults template.
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace FineTune.ServiceDefaults;

public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    // Tag that marks a check as part of liveness: only these run behind /alive.
    public const string LiveTag = "live";

    // MassTransit's ActivitySource and Meter are both named "MassTransit"; the services publish and consume through it.
    public const string MassTransitTelemetryName = "MassTransit";
    // The training engine's meter (FineTune.Training.TrainingTelemetry.MeterName): loss, learning rate, tokens/s per
    // run.
    public const string TrainingMeterName = "FineTune.Training";
    // The pipeline's meter and ActivitySource (FineTune.Pipeline.PipelineTelemetry.Name): stage durations, queue lag,
    // finished runs, evaluation scores; the training job's span, which continues the run's trace.
    public const string PipelineTelemetryName = "FineTune.Pipeline";
    // lib/FineTune.Serving's meter and ActivitySource (ServingMetrics.MeterName).
    public const string ServingTelemetryName = "FineTune.Serving";

    /// <summary>The OTLP export timeout (OpenTelemetry's standard variable) and the default set when it is
    /// unset.</summary>
    public const string OtlpTimeoutKey = "OTEL_EXPORTER_OTLP_TIMEOUT";
    public const string DefaultOtlpTimeoutMilliseconds = "2000";

    public static TBuilder AddServiceDefaults<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry();
        builder.AddDefaultHealthChecks();

        builder.Services.AddServiceDiscovery();
        builder.Services.ConfigureHttpClientDefaults(http =>
        {
            http.AddStandardResilienceHandler();
            http.AddServiceDiscovery();
        });

        return builder;
    }

    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        // The service's own ActivitySource and Meter carry its name (conventions: one ActivitySource per service).
        var serviceName = builder.Environment.ApplicationName;

        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddMeter(serviceName, MassTransitTelemetryName, TrainingMeterName, PipelineTelemetryName,
                    ServingTelemetryName)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation())
            .WithTracing(tracing => tracing
                .AddSource(serviceName, MassTransitTelemetryName, PipelineTelemetryName, ServingTelemetryName)
                // Orchestrator probes hit the health endpoints every few seconds; tracing them buries real requests.
                .AddAspNetCoreInstrumentation(aspNetCore => aspNetCore.Filter = context =>
                    !context.Request.Path.StartsWithSegments(HealthEndpointPath)
                    && !context.Request.Path.StartsWithSegments(AlivenessEndpointPath))
                .AddHttpClientInstrumentation());

        builder.AddOpenTelemetryExporters();

        return builder;
    }

    private static TBuilder AddOpenTelemetryExporters<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // The AppHost (or the deployment) sets the endpoint; without one there is nowhere to export to.
        if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            // A stopping service flushes its last telemetry before it exits. With the SDK's 10 s per export (and the
            // in-memory retries Aspire turns on) a service whose collector is gone took 17 s to stop, past the
            // orchestrator's stop timeout (DCP reported "timed out waiting for process to stop"). Unless the
            // deployment says otherwise, an export gives up after 2 s: a local collector answers in milliseconds.
            if (string.IsNullOrWhiteSpace(builder.Configuration[OtlpTimeoutKey]))
                builder.Configuration[OtlpTimeoutKey] = DefaultOtlpTimeoutMilliseconds;
            builder.Services.AddOpenTelemetry().UseOtlpExporter();
        }

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder)
        where TBuilder : IHostApplicationBuilder
    {
        // "self" answers as long as the process can serve a request: the minimum for liveness.
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);

        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        // Unlike the Aspire template (Development only), these are mapped in every environment: the services run
        // headless in production and the orchestrator's readiness and liveness probes need them. They report status
        // words only (Healthy/Unhealthy), never check details.
        app.MapHealthChecks(HealthEndpointPath);
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = registration => registration.Tags.Contains(LiveTag),
        });

        return app;
    }
}
