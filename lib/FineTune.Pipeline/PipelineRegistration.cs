// Composition: the stages a host runs, over which transport. The five services each add one stage over RabbitMQ;
// `finetune run` and the harness tests add all of them over MassTransit's in-memory transport. Same consumers either way.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Evaluation;
using FineTune.Pipeline.Ingestion;
using FineTune.Pipeline.Runs;
using FineTune.Pipeline.Tokenization;
using FineTune.Pipeline.Training;
using FineTune.Registry;
using FineTune.Training;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline;

[Flags]
public enum PipelineStages
{
    None = 0, Ingestion = 1, Tokenization = 2, Training = 4, Evaluation = 8, Deployment = 16,
    All = Ingestion | Tokenization | Training | Evaluation | Deployment,
    /// <summary>The OpenAI-compatible endpoint behind the registry's aliases (the Deployment service hosts it; needs AddServing).</summary>
    Serving = 32,
}

/// <summary>Where messages travel: RabbitMQ (<see cref="RabbitMqUri"/> set) or in memory (one process).</summary>
public sealed record MessagingOptions
{
    public const string Section = "Messaging";
    /// <summary>amqp://user:password@host:port/vhost; null: the in-memory transport.</summary>
    public string? RabbitMqUri { get; set; }
}

public static class PipelineRegistration
{
    static PipelineRegistration()
    {
        // Every message's correlation id is its run id: one run's messages, logs and traces line up across services.
        MessageCorrelation.UseCorrelationId<DatasetArrived>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<DatasetCleaned>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<DatasetRejected>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<DatasetTokenized>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<TrainingRequested>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<TrainingProgressed>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<ModelTrained>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<EvaluationCompleted>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<ModelPromoted>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<ModelRejected>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<ModelRolledBack>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<PromoteModel>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<RollBackDeployment>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<StageFailed>(m => m.RunId);
        MessageCorrelation.UseCorrelationId<CancelRun>(m => m.RunId);
    }

    /// <summary>The registry, the artifact store and the stage services, from configuration sections "Registry",
    /// "Artifacts" and "Pipeline".</summary>
    public static IServiceCollection AddPipelineCore(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PipelineOptions>().Bind(configuration.GetSection(PipelineOptions.Section)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<MessagingOptions>().Bind(configuration.GetSection(MessagingOptions.Section));
        services.AddOptions<ArtifactStoreOptions>().Bind(configuration.GetSection(ArtifactStoreOptions.Section));
        services.AddSingleton(sp =>
        {
            var section = configuration.GetSection("Registry");
            var options = new RegistryOptions(section["Provider"] ?? "sqlite",
                section["ConnectionString"] ?? $"Data Source={Path.Combine(sp.GetRequiredService<IOptions<PipelineOptions>>().Value.WorkDirectory, "registry.db")}");
            return RunRegistry.Create(options);
        });
        services.AddSingleton<IArtifactStore>(sp => sp.GetRequiredService<IOptions<ArtifactStoreOptions>>().Value.Create());
        services.AddHostedService<PipelineStartup>();
        services.AddSingleton<RunInputs>();
        services.AddMetrics();
        services.AddSingleton<PipelineTelemetry>();
        services.AddScoped<RunLedger>();
        services.AddScoped<IngestionStage>();
        services.AddScoped<TokenizationStage>();
        services.AddScoped<EvaluationStage>();
        services.AddScoped<TrainingJobRunner>();
        return services;
    }

    /// <summary>MassTransit with the consumers of <paramref name="stages"/> (and the workers those stages own).</summary>
    public static IServiceCollection AddPipelineMessaging(this IServiceCollection services, IConfiguration configuration, PipelineStages stages)
    {
        if (stages.HasFlag(PipelineStages.Ingestion))
        {
            services.AddSingleton<BucketWatcher>();
            if (configuration.GetSection(PipelineOptions.Section).GetValue(nameof(PipelineOptions.WatchIngestionBucket), true))
                services.AddHostedService(sp => sp.GetRequiredService<BucketWatcher>());
        }
        if (stages.HasFlag(PipelineStages.Training)) services.AddHostedService<TrainingWorker>();
        if (stages.HasFlag(PipelineStages.Serving))
        {
            if (!services.Any(d => d.ServiceType == typeof(FineTune.Serving.Engine.ModelCatalog)))
                FineTune.Serving.ServingHost.AddServing(services, configuration);
            services.AddSingleton<Serving.RegistryServing>();
            services.AddHostedService(sp => sp.GetRequiredService<Serving.RegistryServing>());
        }
        var rabbit = configuration.GetSection(MessagingOptions.Section)["RabbitMqUri"];
        services.AddMassTransit(x =>
        {
            x.SetKebabCaseEndpointNameFormatter();
            var notifications = configuration.GetSection(PipelineOptions.Section)["BucketNotificationsExchange"];
            if (stages.HasFlag(PipelineStages.Ingestion) && notifications is { Length: > 0 } && rabbit is not null)
                x.AddConsumer<BucketNotificationConsumer>().ExcludeFromConfigureEndpoints();
            if (stages.HasFlag(PipelineStages.Ingestion))
            {
                x.AddConsumer<DatasetArrivedConsumer>();
                x.AddConsumer<StageFaultConsumer<DatasetArrived>>();
            }
            if (stages.HasFlag(PipelineStages.Tokenization))
            {
                x.AddConsumer<DatasetCleanedConsumer>();
                x.AddConsumer<StageFaultConsumer<DatasetCleaned>>();
            }
            if (stages.HasFlag(PipelineStages.Training))
            {
                x.AddConsumer<DatasetTokenizedConsumer>();
                x.AddConsumer<TrainingRequestedConsumer>();
                x.AddConsumer<CancelRunConsumer>();
                x.AddConsumer<StageFaultConsumer<DatasetTokenized>>();
                x.AddConsumer<StageFaultConsumer<TrainingRequested>>();
            }
            if (stages.HasFlag(PipelineStages.Evaluation))
            {
                x.AddConsumer<ModelTrainedConsumer>();
                x.AddConsumer<StageFaultConsumer<ModelTrained>>();
            }
            if (stages.HasFlag(PipelineStages.Deployment))
            {
                x.AddConsumer<EvaluationCompletedConsumer>();
                x.AddConsumer<PromoteModelConsumer>();
                x.AddConsumer<RollBackDeploymentConsumer>();
                x.AddConsumer<StageFaultConsumer<EvaluationCompleted>>();
            }
            if (stages.HasFlag(PipelineStages.Serving))
            {
                x.AddConsumer<Serving.ModelPromotedServingConsumer>();
                x.AddConsumer<Serving.ModelRolledBackServingConsumer>();
            }
            x.AddConfigureEndpointsCallback((context, _, endpoint) =>
            {
                var intervals = context.GetRequiredService<IOptions<PipelineOptions>>().Value.RetryIntervalsSeconds;
                endpoint.UseMessageRetry(r =>
                {
                    r.Intervals(intervals.Select(s => TimeSpan.FromSeconds(s)).ToArray());
                    // What fails the same way every time (bad input, bad settings, a prompt that does not fit, our own
                    // bugs) goes straight to the fault path; only transient failures are retried.
                    r.Ignore<Exception>(StageErrors.IsPermanent);
                });
                // Publishes leave only when the consumer finished (and its registry transaction committed).
                endpoint.UseInMemoryOutbox(context);
                endpoint.UseConsumeFilter(typeof(RunTelemetryFilter<>), context);
                // Stages are CPU-bound: one message at a time per endpoint.
                endpoint.ConcurrentMessageLimit = 1;
            });
            if (rabbit is null)
                x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            else
                x.UsingRabbitMq((context, cfg) =>
                {
                    cfg.Host(new Uri(rabbit));
                    if (stages.HasFlag(PipelineStages.Ingestion) && notifications is { Length: > 0 })
                        // MinIO publishes plain S3 event JSON, not MassTransit envelopes: a raw-JSON queue bound to its exchange.
                        cfg.ReceiveEndpoint("ingestion-bucket-notifications", e =>
                        {
                            e.ConfigureConsumeTopology = false;
                            e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                            e.Bind(notifications, b => b.ExchangeType = "fanout");
                            e.ConfigureConsumer<BucketNotificationConsumer>(context);
                        });
                    cfg.ConfigureEndpoints(context);
                });
        });
        return services;
    }
}
