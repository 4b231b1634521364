// The Training stage in a host: the consumers that turn DatasetTokenized into a recorded training job (and cancel
// runs), and the TrainingWorker that runs jobs one at a time — several hosts compete for jobs through the registry.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Training;

public static class TrainingRegistration
{
    public static PipelineBuilder AddTrainingStage(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime(Stages.Training))
            return pipeline;
        pipeline.Services.AddScoped<TrainingJobRunner>();
        pipeline.Services.AddHostedService<TrainingWorker>();
        return pipeline.AddConsumers(x =>
        {
            x.AddConsumer<DatasetTokenizedConsumer, BookkeepingDefinition<DatasetTokenizedConsumer>>();
            x.AddConsumer<TrainingRequestedConsumer, BookkeepingDefinition<TrainingRequestedConsumer>>();
            x.AddConsumer<CancelRunConsumer, BookkeepingDefinition<CancelRunConsumer>>();
            x.AddConsumer<StageFaultConsumer<DatasetTokenized>,
                BookkeepingDefinition<StageFaultConsumer<DatasetTokenized>>>();
            x.AddConsumer<StageFaultConsumer<TrainingRequested>,
                BookkeepingDefinition<StageFaultConsumer<TrainingRequested>>>();
        });
    }
}
