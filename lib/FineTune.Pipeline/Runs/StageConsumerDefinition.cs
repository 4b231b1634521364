// Each endpoint's delivery policy, held by its consumer's definition: retries only for what can change between
// attempts (StageErrors), at PipelineOptions.RetryIntervalsSeconds; one message at a time (the stages are CPU-bound
// and share the machine); and a time limit, after which the attempt is cancelled and counts as failed. Stage work
// (clean, tokenize, evaluate) gets PipelineOptions.StageTimeoutMinutes; bookkeeping consumers get a few minutes.
// Also on every endpoint: the in-memory outbox (publishes leave after the consumer's transaction) and the run's
// logging scope and queue lag (RunTelemetryFilter).
using MassTransit;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Runs;

public enum StageWork { Bookkeeping, Compute }

public class StageConsumerDefinition<TConsumer> : ConsumerDefinition<TConsumer> where TConsumer : class, IConsumer
{
    static readonly TimeSpan BookkeepingTimeout = TimeSpan.FromMinutes(5);
    readonly PipelineOptions _options;
    readonly StageWork _work;

    protected StageConsumerDefinition(IOptions<PipelineOptions> options, StageWork work)
    {
        _options = options.Value;
        _work = work;
        ConcurrentMessageLimit = 1;
    }

    public TimeSpan Timeout
        => _work == StageWork.Compute ? TimeSpan.FromMinutes(_options.StageTimeoutMinutes) : BookkeepingTimeout;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<TConsumer> consumer,
        IRegistrationContext context)
    {
        endpoint.UseMessageRetry(r =>
        {
            r.Intervals(_options.RetryIntervals.Select(s => TimeSpan.FromSeconds(s)).ToArray());
            r.Ignore<Exception>(StageErrors.IsPermanent);
        });
        endpoint.UseInMemoryOutbox(context);
        endpoint.UseConsumeFilter(typeof(RunTelemetryFilter<>), context);
        consumer.UseTimeout(t => t.Timeout = Timeout);
    }
}

/// <summary>A consumer that does a stage's work (minutes to hours of CPU).</summary>
public sealed class ComputeDefinition<TConsumer>(IOptions<PipelineOptions> options)
    : StageConsumerDefinition<TConsumer>(options, StageWork.Compute) where TConsumer : class, IConsumer;

/// <summary>A consumer that records, routes or publishes (seconds).</summary>
public sealed class BookkeepingDefinition<TConsumer>(IOptions<PipelineOptions> options)
    : StageConsumerDefinition<TConsumer>(options, StageWork.Bookkeeping) where TConsumer : class, IConsumer;
