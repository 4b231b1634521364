// The loop the Deployment host's background checks share (release analysis, drift, feedback export): wait an
// interval, do the work, log a failure and try again at the next interval, stop with the host.
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Serving;

internal static class Periodic
{
    public static async Task RunAsync(TimeSpan interval, TimeProvider time, Func<CancellationToken, Task> work,
        ILogger log, string what, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, time, stoppingToken);
                await work(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogError(e, "{What} failed; trying again in {Seconds} s", what, interval.TotalSeconds);
            }
        }
    }
}
