// The Deployment stage in a host: the gate's verdict moves the aliases, manual promotion and rollback.
// (The serving endpoint that follows the aliases is lib/FineTune.Pipeline.Serving's AddRegistryServing.)
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using MassTransit;

namespace FineTune.Pipeline.Deployment;

public static class DeploymentRegistration
{
    public static PipelineBuilder AddDeploymentStage(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime(Stages.Deployment))
            return pipeline;
        return pipeline.AddConsumers(x =>
        {
            x.AddConsumer<EvaluationCompletedConsumer, BookkeepingDefinition<EvaluationCompletedConsumer>>();
            x.AddConsumer<PromoteModelConsumer, BookkeepingDefinition<PromoteModelConsumer>>();
            x.AddConsumer<RollBackDeploymentConsumer, BookkeepingDefinition<RollBackDeploymentConsumer>>();
            x.AddConsumer<StageFaultConsumer<EvaluationCompleted>,
                BookkeepingDefinition<StageFaultConsumer<EvaluationCompleted>>>();
        });
    }
}
