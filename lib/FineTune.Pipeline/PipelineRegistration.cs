// Composition: the pipeline core (registry, artifact store, options, the stage classes) and the stages a host runs,
// over
// which transport. The five services each add their stage over RabbitMQ; `finetune run` and the harness tests add all
// of them over MassTransit's in-memory transport. Same consumers either way.
using FineTune.Artifacts;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Evaluation;
using FineTune.Pipeline.Ingestion;
using FineTune.Pipeline.Runs;
using FineTune.Pipeline.Tokenization;
using FineTune.Pipeline.Training;
using FineTune.Registry;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline;

/// <summary>Where messages travel: RabbitMQ (<see cref="RabbitMqUri"/> set) or in memory (one process).</summary>
public sealed record MessagingOptions
{
    public const string Section = "Messaging";
    /// <summary>amqp://user:password@host:port/vhost; null: the in-memory transport.</summary>
    public string? RabbitMqUri { get; set; }
}

public static class PipelineRegistration
{
    /// <summary>The registry, the artifact store, the run ledger and the options every stage uses, from configuration
    /// sections "Registry", "Artifacts", "Messaging" and "Pipeline".</summary>
    public static IServiceCollection AddPipelineCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PipelineOptions>().Bind(configuration.GetSection(PipelineOptions.Section))
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MessagingOptions>().Bind(configuration.GetSection(MessagingOptions.Section));
        services.AddOptions<ArtifactStoreOptions>().Bind(configuration.GetSection(ArtifactStoreOptions.Section));
        services.AddSingleton(sp =>
        {
            var section = configuration.GetSection("Registry");
            var options = new RegistryOptions(section["Provider"] ?? "sqlite",
                section["ConnectionString"]
                    ?? $"Data Source={Path.Combine(sp.GetRequiredService<IOptions<PipelineOptions>>().Value.WorkDirectory, "registry.db")}");
            return RunRegistry.Create(options);
        });
        services.AddSingleton<IArtifactStore>(sp =>
            sp.GetRequiredService<IOptions<ArtifactStoreOptions>>().Value.Create());
        services.AddHostedService<PipelineStartup>();
        services.AddSingleton<RunInputs>();
        services.AddMetrics();
        services.AddSingleton<PipelineTelemetry>();
        services.AddScoped<RunLedger>();
        services.AddScoped<StageSteps>();
        return services;
    }

    /// <summary>The pipeline core and the stages <paramref name="stages"/> adds (builder.AddIngestionStage(), …), on
    /// one
    /// MassTransit bus: RabbitMQ when Messaging:RabbitMqUri is set, else in memory.</summary>
    public static IServiceCollection AddPipeline(this IServiceCollection services, IConfiguration configuration,
        Action<PipelineBuilder> stages)
    {
        MessageCorrelations.UseRunIds();
        services.AddPipelineCore(configuration);
        var pipeline = new PipelineBuilder(services, configuration);
        stages(pipeline);
        var rabbit = pipeline.RabbitMqUri;
        services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            foreach (var add in pipeline.Consumers)
                add(x);
            if (rabbit is null)
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            else
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(new Uri(rabbit));
                    foreach (var endpoint in pipeline.RabbitMqEndpoints)
                        endpoint(context, cfg);
                    cfg.ConfigureEndpoints(context);
                });
        });
        return services;
    }

    /// <summary>All five stages: what `finetune run` and the harness tests host in one process.</summary>
    public static PipelineBuilder AddAllStages(this PipelineBuilder pipeline) => pipeline
        .AddIngestionStage().AddTokenizationStage().AddTrainingStage().AddEvaluationStage().AddDeploymentStage();
}
