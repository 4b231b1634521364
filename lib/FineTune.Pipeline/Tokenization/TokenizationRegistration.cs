// The Tokenization stage in a host: the stage and the consumers of DatasetCleaned and of its faults.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tokenization;

public static class TokenizationRegistration
{
    public static PipelineBuilder AddTokenizationStage(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime(Stages.Tokenization))
            return pipeline;
        pipeline.Services.AddScoped<TokenizationStage>();
        return pipeline.AddConsumers(x =>
        {
            x.AddConsumer<DatasetCleanedConsumer, ComputeDefinition<DatasetCleanedConsumer>>();
            x.AddConsumer<StageFaultConsumer<DatasetCleaned>,
                BookkeepingDefinition<StageFaultConsumer<DatasetCleaned>>>();
        });
    }
}
