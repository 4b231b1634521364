// The serving endpoint behind the registry's aliases, in a host that already runs the Deployment stage's bus: the
// OpenAI-compatible engine (FineTune.Serving), RegistryServing that keeps it in line with the aliases, and the
// consumers that make it sync at once on a promotion or rollback.
using FineTune.Pipeline.Runs;
using FineTune.Serving;
using FineTune.Serving.Engine;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Serving;

public static class RegistryServingRegistration
{
    public static PipelineBuilder AddRegistryServing(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime("serving"))
            return pipeline;
        var services = pipeline.Services;
        if (!services.Any(d => d.ServiceType == typeof(ModelCatalog)))
            ServingHost.AddServing(services,
            pipeline.Configuration);
        services.AddSingleton<RegistryServing>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistryServing>());
        services.AddSingleton(RecordingOptions.From(pipeline.Configuration));
        services.AddSingleton<RegistryRequestLog>();
        services.AddHostedService(sp => sp.GetRequiredService<RegistryRequestLog>());
        services.AddSingleton<FineTune.Serving.Feedback.IRequestLog>(sp => sp.GetRequiredService<RegistryRequestLog>());
        services.AddSingleton<FineTune.Serving.Feedback.IFeedbackStore>(sp =>
            sp.GetRequiredService<RegistryRequestLog>());
        services.AddSingleton(FeedbackExportOptions.From(pipeline.Configuration));
        services.AddSingleton<FeedbackExporter>();
        services.AddHostedService(sp => sp.GetRequiredService<FeedbackExporter>());
        services.AddSingleton(DriftOptions.From(pipeline.Configuration));
        services.AddHttpClient(nameof(DriftMonitor));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<DriftMonitor>(sp,
            AlertOptions.From(pipeline.Configuration)));
        services.AddHostedService(sp => sp.GetRequiredService<DriftMonitor>());
        services.AddSingleton<FineTune.Serving.Feedback.IRequestLog>(sp => sp.GetRequiredService<DriftMonitor>());
        services.AddSingleton<ReleaseAnalysis>();
        services.AddHostedService(sp => sp.GetRequiredService<ReleaseAnalysis>());
        return pipeline.AddConsumers(x =>
        {
            x.AddConsumer<ModelPromotedServingConsumer, BookkeepingDefinition<ModelPromotedServingConsumer>>();
            x.AddConsumer<ModelRolledBackServingConsumer, BookkeepingDefinition<ModelRolledBackServingConsumer>>();
        });
    }
}
