// Behaviour of FineTune.ServiceDefaults on a real WebApplication over TestServer: health endpoints,
// OpenTelemetry wiring and HttpClient defaults. Run: dotnet test tests/FineTune.ServiceDefaults.Tests
using System.Diagnostics;
using System.Net;
using FineTune.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Http.Resilience;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Trace;

namespace FineTune.ServiceDefaults.Tests;

public sealed class ServiceDefaultsTests
{
    private const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    // The assembly name doubles as the service's ActivitySource name, as it would in a real host.
    private static readonly string ApplicationName = typeof(ServiceDefaultsTests).Assembly.GetName().Name!;

    [Fact]
    public async Task Health_and_alive_answer_200_Healthy()
    {
        await using var app = await StartAsync();
        var client = app.GetTestClient();

        foreach (var path in new[] { "/health", "/alive" })
        {
            var response = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Health_endpoints_are_mapped_outside_Development()
    {
        // StartAsync builds a Production host; the Aspire template would answer 404 here.
        await using var app = await StartAsync();
        Assert.False(app.Environment.IsDevelopment());

        var response = await app.GetTestClient().GetAsync("/alive");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task A_failing_readiness_check_fails_health_but_not_alive()
    {
        await using var app = await StartAsync(builder => builder.Services.AddHealthChecks()
            .AddCheck("messaging", () => HealthCheckResult.Unhealthy("broker unreachable")));
        var client = app.GetTestClient();

        var health = await client.GetAsync("/health");
        var alive = await client.GetAsync("/alive");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("Unhealthy", await health.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, alive.StatusCode);
        Assert.Equal("Healthy", await alive.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_failing_live_check_fails_alive_too()
    {
        await using var app = await StartAsync(builder => builder.Services.AddHealthChecks()
            .AddCheck("deadlock", () => HealthCheckResult.Unhealthy(), [Extensions.LiveTag]));

        var alive = await app.GetTestClient().GetAsync("/alive");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, alive.StatusCode);
    }

    // A service that stops flushes its last telemetry; with the SDK's 10 s per export it outlived the orchestrator's
    // stop timeout when its collector was gone. The deployment's own timeout wins.
    [Theory]
    [InlineData(null, "2000")]
    [InlineData("15000", "15000")]
    public void An_otlp_export_gives_up_after_two_seconds_unless_the_deployment_sets_a_timeout(string? configured,
        string expected)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = ApplicationName });
        builder.Configuration[OtlpEndpointKey] = "http://127.0.0.1:1";
        builder.Configuration[Extensions.OtlpTimeoutKey] = configured;

        builder.AddServiceDefaults();

        Assert.Equal(expected, builder.Configuration[Extensions.OtlpTimeoutKey]);
    }

    [Fact]
    public void Otlp_exporter_is_registered_when_the_endpoint_is_configured()
    {
        var services = ServicesWithOtlpEndpoint("http://localhost:4317");

        Assert.Contains(services, MentionsOtlpExporter);
    }

    [Fact]
    public void Otlp_exporter_is_not_registered_without_an_endpoint()
    {
        // Set explicitly to empty so an OTEL_EXPORTER_OTLP_ENDPOINT in the machine's environment cannot leak in.
        var services = ServicesWithOtlpEndpoint("");

        Assert.DoesNotContain(services, MentionsOtlpExporter);
    }

    [Fact]
    public async Task Request_traces_are_recorded_and_health_probes_are_not()
    {
        var exported = new List<Activity>();
        await using var app = await StartAsync(
            builder => AddInMemoryTraces(builder, exported),
            app => app.MapGet("/runs/{id}", (string id) => id));
        var client = app.GetTestClient();

        await client.GetAsync("/health");
        await client.GetAsync("/alive");
        await client.GetAsync("/runs/42");
        await WaitUntilAsync(() => Snapshot(exported).Any(a => a.GetTagItem("url.path") as string == "/runs/42"));

        var paths = Snapshot(exported).Select(a => a.GetTagItem("url.path") as string).ToList();
        var request = Snapshot(exported).Single(a => a.GetTagItem("url.path") as string == "/runs/42");
        Assert.Equal("Microsoft.AspNetCore", request.Source.Name);
        Assert.Equal(ActivityKind.Server, request.Kind);
        Assert.DoesNotContain("/health", paths);
        Assert.DoesNotContain("/alive", paths);
    }

    [Fact]
    public async Task Traces_from_the_service_source_and_MassTransit_are_recorded()
    {
        var exported = new List<Activity>();
        await using var app = await StartAsync(
            builder => AddInMemoryTraces(builder, exported));
        using var serviceSource = new ActivitySource(ApplicationName);
        using var massTransitSource = new ActivitySource("MassTransit");
        using var unrelatedSource = new ActivitySource("Unrelated.Library");

        serviceSource.StartActivity("tokenize")?.Dispose();
        massTransitSource.StartActivity("tokenization send")?.Dispose();
        unrelatedSource.StartActivity("noise")?.Dispose();

        var names = Snapshot(exported).Select(a => a.Source.Name).ToList();
        Assert.Contains(ApplicationName, names);
        Assert.Contains("MassTransit", names);
        Assert.DoesNotContain("Unrelated.Library", names);
    }

    [Fact]
    public async Task HttpClients_from_the_factory_carry_the_standard_resilience_handler()
    {
        await using var app = await StartAsync(builder => builder.Services.AddHttpClient("downstream"));
        var factory = app.Services.GetRequiredService<IHttpMessageHandlerFactory>();

        var chain = HandlerChain(factory.CreateHandler("downstream")).Select(h => h.GetType()).ToList();

        Assert.Contains(typeof(ResilienceHandler), chain);
    }

    [Fact]
    public async Task HttpClients_retry_a_transient_503()
    {
        var downstream = new FlakyHandler(failures: 1);
        await using var app = await StartAsync(builder => builder.Services.AddHttpClient("downstream")
            .ConfigurePrimaryHttpMessageHandler(() => downstream));
        var client = app.Services.GetRequiredService<IHttpClientFactory>().CreateClient("downstream");

        var response = await client.GetAsync("http://downstream.test/status");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, downstream.Calls);
    }

    private static async Task<WebApplication> StartAsync(
        Action<WebApplicationBuilder>? configure = null, Action<WebApplication>? map = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            ApplicationName = ApplicationName,
            EnvironmentName = Environments.Production,
        });
        builder.WebHost.UseTestServer();
        builder.Configuration[OtlpEndpointKey] = "";
        configure?.Invoke(builder);
        builder.AddServiceDefaults();

        var app = builder.Build();
        app.MapDefaultEndpoints();
        map?.Invoke(app);
        await app.StartAsync();
        return app;
    }

    private static void AddInMemoryTraces(WebApplicationBuilder builder, List<Activity> exported) =>
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddInMemoryExporter(exported));

    private static IServiceCollection ServicesWithOtlpEndpoint(string endpoint)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ApplicationName = ApplicationName });
        builder.Configuration[OtlpEndpointKey] = endpoint;
        builder.AddServiceDefaults();
        return builder.Services;
    }

    // UseOtlpExporter registers options and factories whose types live in the OTLP exporter assembly.
    private static bool MentionsOtlpExporter(ServiceDescriptor descriptor)
    {
        var otlp = typeof(OtlpExporterOptions).Assembly;
        var implementation = descriptor.IsKeyedService ? descriptor.KeyedImplementationType
            : descriptor.ImplementationType;
        Type?[] types = [descriptor.ServiceType, implementation];
        return types.OfType<Type>()
            .SelectMany(t => t.IsGenericType ? t.GetGenericArguments().Append(t) : [t])
            .Any(t => t.Assembly == otlp);
    }

    private static IEnumerable<HttpMessageHandler> HandlerChain(HttpMessageHandler? handler)
    {
        for (; handler is not null; handler = (handler as DelegatingHandler)?.InnerHandler)
        {
            yield return handler;
        }
    }

    private static List<Activity> Snapshot(List<Activity> exported)
    {
        lock (exported)
        {
            return [.. exported];
        }
    }

    // A server activity ends after the response reaches the TestServer client, so give the exporter a moment.
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition() && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(20);
        }
    }

    private sealed class FlakyHandler(int failures) : HttpMessageHandler
    {
        private int _calls;

        public int Calls => _calls;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var status = Interlocked.Increment(ref _calls) <= failures ? HttpStatusCode.ServiceUnavailable
                : HttpStatusCode.OK;
            return Task.FromResult(new HttpResponseMessage(status));
        }
    }
}
