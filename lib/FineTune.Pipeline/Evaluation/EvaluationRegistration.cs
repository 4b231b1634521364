// The Evaluation stage in a host: the stage (candidate beside production, then the gate) and the consumers of
// ModelTrained and of its faults.
using FineTune.Contracts;
using FineTune.Evals.Judging;
using FineTune.Pipeline.Runs;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Evaluation;

public static class EvaluationRegistration
{
    public static PipelineBuilder AddEvaluationStage(this PipelineBuilder pipeline)
    {
        if (!pipeline.FirstTime(Stages.Evaluation))
            return pipeline;
        pipeline.Services.AddScoped<EvaluationStage>();
        // The judge's endpoint, model and key variable (the key itself stays in the environment): section "Judge".
        pipeline.Services.AddOptions<JudgeOptions>().BindConfiguration("Judge");
        return pipeline.AddConsumers(x =>
        {
            x.AddConsumer<ModelTrainedConsumer, ComputeDefinition<ModelTrainedConsumer>>();
            x.AddConsumer<StageFaultConsumer<ModelTrained>, BookkeepingDefinition<StageFaultConsumer<ModelTrained>>>();
        });
    }
}
