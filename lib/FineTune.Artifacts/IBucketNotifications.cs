// Stores that can announce new objects themselves (MinIO: bucket notifications to an AMQP exchange). The ingestion
// service turns them on at start when configured; the reconciliation scan runs either way.
namespace FineTune.Artifacts;

public interface IBucketNotifications
{
    /// <summary>Sends an event for every object created in <paramref name="bucket"/> to the notification target
    /// <paramref name="queueArn"/> (MinIO: arn:minio:sqs::NAME:amqp, the target the server was started with).</summary>
    Task EnableObjectCreatedNotificationsAsync(string bucket, string queueArn, CancellationToken ct = default);
}
