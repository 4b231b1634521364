// Ready only when the run registry answers a query.
using FineTune.Registry;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace FineTune.Pipeline.Hosting;

sealed class RegistryHealthCheck(RunRegistry registry) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context,
        CancellationToken cancellationToken = default)
    {
        try
        {
            await registry.ReadAsync(s => s.ListRunsAsync(null, 1, cancellationToken), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e)
        {
            return HealthCheckResult.Unhealthy("the run registry does not answer", e);
        }
    }
}
