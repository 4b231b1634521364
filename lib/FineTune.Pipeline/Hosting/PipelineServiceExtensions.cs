// What every stage service adds after AddServiceDefaults(): the pipeline core (registry, store, options), MassTransit
// over RabbitMQ with this service's stage, health checks for the database and the store (MassTransit adds the bus's),
// OpenAPI, and the read-only run endpoints every service answers.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using FineTune.Registry;
using FineTune.Torch;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FineTune.Pipeline.Hosting;

public static class PipelineServiceExtensions
{
    /// <param name="stages">The service's own stage(s): <c>p => p.AddTrainingStage()</c>.</param>
    public static IHostApplicationBuilder AddPipelineService(this IHostApplicationBuilder builder,
        Action<PipelineBuilder> stages)
    {
        // before anything loads libtorch (training and evaluation share the machine's cores)
        TorchProcess.Configure();
        builder.Services.AddPipeline(builder.Configuration, stages);
        builder.Services.AddHealthChecks()
            .AddCheck<RegistryHealthCheck>("registry", tags: ["ready"])
            .AddCheck<ArtifactStoreHealthCheck>("artifacts", tags: ["ready"]);
        builder.Services.AddOpenApi();
        return builder;
    }

    /// <summary>GET /runs, /runs/{id}, /runs/{id}/events, /runs/{id}/checkpoints, POST /runs/{id}/cancel, and
    /// /openapi/v1.json.</summary>
    public static IEndpointRouteBuilder MapPipelineRuns(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi();
        var runs = app.MapGroup("/runs").WithTags("runs");
        runs.MapGet("/", (RunRegistry registry, string? project, int? limit, CancellationToken ct) =>
            registry.ReadAsync(s => s.ListRunsAsync(project, limit ?? 50, ct), ct));
        runs.MapGet("/{id:guid}", async (RunRegistry registry, Guid id, CancellationToken ct) =>
            await registry.ReadAsync(async s => await s.GetRunAsync(id, ct) is { } run
                ? Results.Ok(new
                {
                    run, stages = await s.ListStagesAsync(id, ct),
                    lineage = await s.ListLineageAsync(id, ct)
                })
                : Results.NotFound(new { error = $"run {id} is not in the registry" }), ct));
        runs.MapGet("/{id:guid}/events", (RunRegistry registry, Guid id, long? after, CancellationToken ct) =>
            registry.ReadAsync(s => s.ListEventsAsync(id, after ?? 0, 1000, ct), ct));
        runs.MapGet("/{id:guid}/checkpoints", (RunRegistry registry, Guid id, CancellationToken ct) =>
            registry.ReadAsync(s => s.ListCheckpointsAsync(id, ct), ct));
        // As `finetune cancel`: the run ends cancelled; a running training job stops at its next lease renewal.
        runs.MapPost("/{id:guid}/cancel", async (RunRegistry registry, Guid id, string? reason, CancellationToken ct) =>
            await RunCancellation.CancelAsync(registry, id, reason, ct)
                ? Results.Ok(new { run = id, status = "cancelled" })
                : Results.Conflict(new
                {
                    error = $"run {id} is not running (it ended, or it is not in the registry)"
                }));
        return app;
    }

    /// <summary>The Deployment service's model registry: GET /models, POST /models/{project}/rollback, POST
    /// /models/{project}/{version}/promote.</summary>
    public static IEndpointRouteBuilder MapModelRegistry(this IEndpointRouteBuilder app)
    {
        var models = app.MapGroup("/models").WithTags("models");
        models.MapGet("/", async (RunRegistry registry, string? project, CancellationToken ct) =>
            await registry.ReadAsync(async s => new
            {
                versions = await s.ListModelVersionsAsync(project, ct),
                aliases = await s.ListAliasesAsync(project, ct)
            }, ct));
        models.MapPost("/{project}/rollback",
            async (MassTransit.IPublishEndpoint publish, string project, string? alias, string? reason,
            CancellationToken ct) =>
        {
            var id = Guid.NewGuid();
            await publish.Publish(new RollBackDeployment
            {
                RunId = id, Project = project,
                Alias = alias ?? "production", Reason = reason
            }, ct);
            return Results.Accepted(value: new { operation = id });
        });
        models.MapPost("/{project}/{version:int}/promote",
            async (MassTransit.IPublishEndpoint publish, RunRegistry registry, string project, int version,
            string? alias, CancellationToken ct) =>
        {
            var evaluation = await registry.ReadAsync(s => s.GetEvaluationAsync(project, version, ct), ct);
            if (evaluation is not { Promote: true })
                return Results.Conflict(new
                {
                    error = $"{project} version {version}: " +
                    $"{(evaluation is null ? "not evaluated" : "did not pass the gate")}; promotion goes through " +
                    $"the gate"
                });
            var id = Guid.NewGuid();
            await publish.Publish(new PromoteModel
            {
                RunId = id, Project = project, ModelVersion = version,
                Alias = alias ?? "production"
            }, ct);
            return Results.Accepted(value: new { operation = id });
        });
        return app;
    }
}
