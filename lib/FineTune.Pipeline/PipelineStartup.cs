// At start: registry migrations (DbUp) and the buckets, before any consumer runs.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Extensions.Hosting;

namespace FineTune.Pipeline;

sealed class PipelineStartup(RunRegistry registry, IArtifactStore store,
    Microsoft.Extensions.Options.IOptions<PipelineOptions> options)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await registry.MigrateAsync(cancellationToken);
        await store.EnsureBucketsAsync(Buckets.All, cancellationToken);
        if (options.Value.BucketNotificationsTarget is { Length: > 0 } target)
        {
            if (store is not IBucketNotifications notifications)
                throw new InvalidOperationException($"Pipeline:BucketNotificationsTarget is '{target}', but the " +
                    $"artifact store ({store.GetType().Name}) has no bucket notifications; unset it to rely on the " +
                    $"scan.");
            await notifications.EnableObjectCreatedNotificationsAsync(Buckets.Ingestion, target, cancellationToken);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
