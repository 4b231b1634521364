// Around every consumed message: a logging scope with the run id (so every log line of a stage names its run) and the
// queue lag (publish → consume) into the pipeline meter.
using MassTransit;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Runs;

public sealed class RunTelemetryFilter<T>(ILogger<RunTelemetryFilter<T>> log,
    PipelineTelemetry telemetry) : IFilter<ConsumeContext<T>> where T : class
{
    public async Task Send(ConsumeContext<T> context, IPipe<ConsumeContext<T>> next)
    {
        if (context.SentTime is { } sent && context.GetRetryAttempt() == 0)
            telemetry.Consumed(typeof(T).Name, DateTime.UtcNow - sent);
        using (log.BeginScope(new Dictionary<string, object?>
        {
            ["RunId"] = context.CorrelationId,
            ["MessageType"] = typeof(T).Name
        }))
            await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("runTelemetry");
}
