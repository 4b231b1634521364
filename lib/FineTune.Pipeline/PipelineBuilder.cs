// What a host composes: the stages it runs. Each stage folder has an Add<Stage>Stage(this PipelineBuilder) that adds
// its services and consumers (IngestionRegistration.cs, …); a service calls its own stage, LocalPipeline calls all
// five.
// AddPipeline turns what the stages added into one MassTransit bus over RabbitMQ or the in-memory transport.
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline;

public sealed class PipelineBuilder(IServiceCollection services, IConfiguration configuration)
{
    readonly HashSet<string> _added = new(StringComparer.Ordinal);

    public IServiceCollection Services => services;
    public IConfiguration Configuration => configuration;

    /// <summary>amqp://… when messages travel over RabbitMQ; null in one process (the in-memory transport).</summary>
    public string? RabbitMqUri
        => configuration.GetSection(MessagingOptions.Section)[nameof(MessagingOptions.RabbitMqUri)]
            is { Length: > 0 } uri ? uri : null;

    internal List<Action<IBusRegistrationConfigurator>> Consumers { get; } = [];
    internal List<Action<IBusRegistrationContext, IRabbitMqBusFactoryConfigurator>> RabbitMqEndpoints { get; } = [];

    /// <summary>Registers consumers (with their definitions) on the bus.</summary>
    public PipelineBuilder AddConsumers(Action<IBusRegistrationConfigurator> add)
    {
        Consumers.Add(add);
        return this;
    }

    /// <summary>A receive endpoint that only RabbitMQ has (e.g. a raw-JSON queue bound to an exchange).</summary>
    public PipelineBuilder AddRabbitMqEndpoint(Action<IBusRegistrationContext,
        IRabbitMqBusFactoryConfigurator> configure)
    {
        RabbitMqEndpoints.Add(configure);
        return this;
    }

    /// <summary>True the first time <paramref name="part"/> is added: a stage added twice registers once.</summary>
    public bool FirstTime(string part) => _added.Add(part);
}
