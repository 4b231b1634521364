// The Ingestion stage in a host: the stage itself, the bucket watcher (reconciliation scan; a MinIO notification over
// RabbitMQ makes it scan at once) and the consumers of DatasetArrived and of its faults.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Ingestion;

public static class IngestionRegistration
{
    public static PipelineBuilder AddIngestionStage(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime(Stages.Ingestion))
            return pipeline;
        var services = pipeline.Services;
        var options = pipeline.Configuration.GetSection(PipelineOptions.Section);
        services.AddScoped<IngestionStage>();
        services.AddSingleton<BucketWatcher>();
        if (options.GetValue(nameof(PipelineOptions.WatchIngestionBucket), true))
            services.AddHostedService(sp => sp.GetRequiredService<BucketWatcher>());

        pipeline.AddConsumers(x =>
        {
            x.AddConsumer<DatasetArrivedConsumer, ComputeDefinition<DatasetArrivedConsumer>>();
            x.AddConsumer<StageFaultConsumer<DatasetArrived>,
                BookkeepingDefinition<StageFaultConsumer<DatasetArrived>>>();
        });

        var notifications = options[nameof(PipelineOptions.BucketNotificationsExchange)];
        if (notifications is { Length: > 0 } && pipeline.RabbitMqUri is not null)
        {
            pipeline.AddConsumers(x => x.AddConsumer<BucketNotificationConsumer>().ExcludeFromConfigureEndpoints());
            // MinIO publishes plain S3 event JSON, not MassTransit envelopes: a raw-JSON queue bound to its exchange.
            pipeline.AddRabbitMqEndpoint((context, cfg) => cfg.ReceiveEndpoint("ingestion-bucket-notifications", e =>
            {
                e.ConfigureConsumeTopology = false;
                e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                e.Bind(notifications, b => b.ExchangeType = "fanout");
                e.ConfigureConsumer<BucketNotificationConsumer>(context);
            }));
        }
        return pipeline;
    }
}
