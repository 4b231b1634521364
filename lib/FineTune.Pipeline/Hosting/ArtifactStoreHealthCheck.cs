// Ready only when the artifact store answers (a stat of a key in the models bucket; absent is fine).
using FineTune.Artifacts;
using FineTune.Contracts;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FineTune.Pipeline.Hosting;

sealed class ArtifactStoreHealthCheck(IArtifactStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
        CancellationToken cancellationToken = default)
    {
        try
        {
            await store.StatAsync(Buckets.Models, ".health", cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("the artifact store does not answer", e);
        }
    }
}
