// MinIO's bucket notifications (an S3 event record as raw JSON on an AMQP exchange): an object was created in the
// ingestion bucket, so scan now. The claim itself stays with the scan, so a notification and a scan finding the same
// object start one run.
using MassTransit;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Ingestion;

/// <summary>The part of MinIO's event record we read: {"EventName": "s3:ObjectCreated:Put", "Key":
/// "ingestion/p/f.jsonl", …}.</summary>
public sealed record BucketNotification
{
    public string? EventName { get; init; }
    public string? Key { get; init; }
}

public sealed class BucketNotificationConsumer(BucketWatcher watcher,
    ILogger<BucketNotificationConsumer> log) : IConsumer<BucketNotification>
{
    public Task Consume(ConsumeContext<BucketNotification> context)
    {
        if (context.Message.EventName?.StartsWith("s3:ObjectCreated", StringComparison.Ordinal) == true)
        {
            log.LogInformation("Bucket notification {Event} for {Key}: scanning now", context.Message.EventName,
                context.Message.Key);
            watcher.RequestScan();
        }
        return Task.CompletedTask;
    }
}
