// What the stage services need from the infrastructure, whichever way it was started: the values of the configuration
// keys every service reads (the same keys scripts/pipeline-start.sh sets), and the resources to wait for.
using Aspire.Hosting.ApplicationModel;

namespace FineTune.AppHost.Infrastructure;

public sealed record PipelineServers(
    InfrastructureMode Mode,
    IReadOnlyList<IResourceBuilder<IResource>> Resources,
    ReferenceExpression RabbitMqUri,
    ReferenceExpression PostgresConnectionString,
    ReferenceExpression S3Endpoint,
    ReferenceExpression S3AccessKey,
    ReferenceExpression S3SecretKey,
    // MinIO announces new objects on this exchange and target; s3rver cannot, so the Ingestion service's scan finds
    // them.
    string? BucketNotificationsExchange = null,
    string? BucketNotificationsTarget = null)
{
    public IResourceBuilder<T> Configure<T>(IResourceBuilder<T> service)
        where T : IResourceWithEnvironment, IResourceWithWaitSupport
    {
        foreach (var resource in Resources)
            service.WaitFor(resource);
        service
            .WithEnvironment("Messaging__RabbitMqUri", RabbitMqUri)
            .WithEnvironment("Registry__Provider", "postgres")
            .WithEnvironment("Registry__ConnectionString", PostgresConnectionString)
            .WithEnvironment("Artifacts__S3Endpoint", S3Endpoint)
            .WithEnvironment("Artifacts__S3AccessKey", S3AccessKey)
            .WithEnvironment("Artifacts__S3SecretKey", S3SecretKey);
        return service;
    }
}
