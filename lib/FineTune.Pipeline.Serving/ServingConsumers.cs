// A promotion or rollback makes the serving endpoint sync that project at once (the periodic sync would catch up
// anyway). The swap is atomic per name; in-flight requests finish on the version they started with.
using FineTune.Contracts;
using MassTransit;

namespace FineTune.Pipeline.Serving;

public sealed class ModelPromotedServingConsumer(RegistryServing serving) : IConsumer<ModelPromoted>
{
    public Task Consume(ConsumeContext<ModelPromoted> context) =>
        serving.SyncAsync(context.Message.Project, context.CancellationToken);
}

public sealed class ModelRolledBackServingConsumer(RegistryServing serving) : IConsumer<ModelRolledBack>
{
    public Task Consume(ConsumeContext<ModelRolledBack> context) =>
        serving.SyncAsync(context.Message.Project, context.CancellationToken);
}
