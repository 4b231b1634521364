// At start: registry migrations (DbUp) and the buckets, before any consumer runs.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Extensions.Hosting;

namespace FineTune.Pipeline;

sealed class PipelineStartup(RunRegistry registry, IArtifactStore store) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await registry.MigrateAsync(cancellationToken);
        await store.EnsureBucketsAsync(Buckets.All, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
