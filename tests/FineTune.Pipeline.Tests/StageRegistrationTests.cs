// Each stage registers itself: a host that adds one stage gets that stage's consumers (and workers) and no other's,
// every consumer carries its endpoint policy in a definition, and every contract's correlation id is its run id.
using FineTune.Contracts;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Evaluation;
using FineTune.Pipeline.Ingestion;
using FineTune.Pipeline.Runs;
using FineTune.Pipeline.Serving;
using FineTune.Pipeline.Tokenization;
using FineTune.Pipeline.Training;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace FineTune.Pipeline.Tests;

public sealed class StageRegistrationTests
{
    static readonly Type[] IngestionConsumers = [typeof(DatasetArrivedConsumer),
        typeof(StageFaultConsumer<DatasetArrived>)];
    static readonly Type[] TokenizationConsumers = [typeof(DatasetCleanedConsumer),
        typeof(StageFaultConsumer<DatasetCleaned>)];
    static readonly Type[] TrainingConsumers =
    [
        typeof(DatasetTokenizedConsumer), typeof(TrainingRequestedConsumer), typeof(CancelRunConsumer),
        typeof(StageFaultConsumer<DatasetTokenized>), typeof(StageFaultConsumer<TrainingRequested>),
    ];
    static readonly Type[] EvaluationConsumers = [typeof(ModelTrainedConsumer),
        typeof(StageFaultConsumer<ModelTrained>)];
    static readonly Type[] DeploymentConsumers =
    [
        typeof(EvaluationCompletedConsumer), typeof(PromoteModelConsumer), typeof(RollBackDeploymentConsumer),
        typeof(StageFaultConsumer<EvaluationCompleted>),
    ];
    static readonly Type[] ServingConsumers = [typeof(ModelPromotedServingConsumer),
        typeof(ModelRolledBackServingConsumer)];
    static readonly Type[] AllConsumers =
        [.. IngestionConsumers, .. TokenizationConsumers, .. TrainingConsumers, .. EvaluationConsumers,
            .. DeploymentConsumers, .. ServingConsumers];

    static ServiceCollection Services(Action<PipelineBuilder> stages, Dictionary<string, string?>? settings = null)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings ?? new()).Build();
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddPipeline(configuration, stages);
        return services;
    }

    static Type[] Consumers(ServiceCollection services) =>
        AllConsumers.Where(c => services.Any(d => d.ServiceType == c)).ToArray();

    public static TheoryData<string> StageNames() => new(Stages.All);

    [Theory]
    [MemberData(nameof(StageNames))]
    public void A_host_that_adds_one_stage_gets_that_stages_consumers_and_no_others(string stage)
    {
        var (add, expected) = stage switch
        {
            Stages.Ingestion => ((Action<PipelineBuilder>)(p => p.AddIngestionStage()), IngestionConsumers),
            Stages.Tokenization => (p => p.AddTokenizationStage(), TokenizationConsumers),
            Stages.Training => (p => p.AddTrainingStage(), TrainingConsumers),
            Stages.Evaluation => (p => p.AddEvaluationStage(), EvaluationConsumers),
            Stages.Deployment => (p => p.AddDeploymentStage(), DeploymentConsumers),
            _ => throw new ArgumentOutOfRangeException(nameof(stage)),
        };
        var services = Services(add);
        Assert.Equal(expected.OrderBy(t => t.FullName), Consumers(services).OrderBy(t => t.FullName));
        // The training worker runs jobs only where the Training stage is.
        Assert.Equal(stage == Stages.Training,
            services.Any(d => d.ServiceType == typeof(IHostedService)
                && d.ImplementationType == typeof(TrainingWorker)));
    }

    [Fact]
    public void All_stages_and_serving_register_every_consumer_once_even_when_a_stage_is_added_twice()
    {
        var services = Services(p => p.AddAllStages().AddTrainingStage().AddRegistryServing().AddRegistryServing());
        Assert.Equal(AllConsumers.OrderBy(t => t.FullName), Consumers(services).OrderBy(t => t.FullName));
        foreach (var consumer in AllConsumers)
            Assert.Single(services, d => d.ServiceType == consumer);
        Assert.Single(services, d => d.ImplementationType == typeof(TrainingWorker));
    }

    [Fact]
    public void Every_consumer_has_a_definition_with_one_message_at_a_time_and_a_time_limit()
    {
        var services = Services(p => p.AddAllStages().AddRegistryServing(),
            new() { ["Pipeline:StageTimeoutMinutes"] = "7" });
        using var provider = services.BuildServiceProvider();
        foreach (var consumer in AllConsumers)
        {
            var definition = provider.GetService(typeof(IConsumerDefinition<>).MakeGenericType(consumer));
            Assert.True(definition is not null, $"{consumer.Name} has no definition");
            object? Property(string name) => definition.GetType().GetProperty(name)!.GetValue(definition);
            Assert.Equal(1, (int?)Property("ConcurrentMessageLimit"));
            var timeout = (TimeSpan)Property("Timeout")!;
            // The stage's own work gets the configured limit; bookkeeping gets minutes.
            bool compute = consumer == typeof(DatasetArrivedConsumer) || consumer == typeof(DatasetCleanedConsumer)
                || consumer == typeof(ModelTrainedConsumer);
            Assert.Equal(compute ? TimeSpan.FromMinutes(7) : TimeSpan.FromMinutes(5), timeout);
        }
    }

    [Fact]
    public async Task A_contract_published_without_a_correlation_id_is_correlated_by_its_run_id()
    {
        Assert.Contains(typeof(CancelRun), MessageCorrelations.Contracts);
        Assert.Contains(typeof(DatasetArrived), MessageCorrelations.Contracts);
        Assert.DoesNotContain(typeof(ArtifactRef), MessageCorrelations.Contracts);
        using var tmp = new TempDir();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost(),
            p => p.AddDeploymentStage());
        var bus = pipeline.Services.GetRequiredService<IBus>();
        var seen = new TaskCompletionSource<Guid?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var handle = bus.ConnectReceiveEndpoint("correlation-observer", e =>
            e.Handler<CancelRun>(c =>
            {
                seen.TrySetResult(c.CorrelationId);
                return Task.CompletedTask;
            }));
        await handle.Ready;
        var runId = Guid.NewGuid();
        await bus.Publish(new CancelRun { RunId = runId });
        Assert.Equal(runId, await seen.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
