// The infrastructure as containers, for machines with a container runtime: RabbitMQ with its management UI, MinIO
// with its console, PostgreSQL with the finetune database; persistent, with data volumes.
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace FineTune.AppHost.Infrastructure;

public static class ContainerServers
{
    public static PipelineServers Add(IDistributedApplicationBuilder builder)
    {
        // Commands and events between the stages; the management UI shows queues, rates and the _error queues.
        var messaging = builder.AddRabbitMQ("messaging").WithManagementPlugin();

        // Datasets, tokenized shards, checkpoints and adapters. Plain container: only official Aspire packages here.
        // The password is generated once and kept in user secrets, so the data volume stays readable.
        var user = builder.AddParameter("artifacts-user", "finetune");
        var password = builder.AddParameter("artifacts-password",
            new GenerateParameterDefault { MinLength = 20, Special = false }, secret: true, persist: true);
        var artifacts = builder.AddContainer("artifacts", "minio/minio", "RELEASE.2025-09-07T16-13-09Z")
            .WithArgs("server", "/data", "--console-address", ":9001")
            .WithEnvironment("MINIO_ROOT_USER", user)
            .WithEnvironment("MINIO_ROOT_PASSWORD", password)
            .WithHttpEndpoint(targetPort: 9000, name: "api")
            .WithHttpEndpoint(targetPort: 9001, name: "console")
            .WithUrlForEndpoint("console", u => u.DisplayText = "S3 console (MinIO)")
            .WithHttpHealthCheck("/minio/health/live", endpointName: "api");

        // MinIO sends an event per created object to the fanout exchange "minio-events" (target
        // arn:minio:sqs::INGESTION:amqp); the Ingestion service subscribes the ingestion bucket to it at start.
        artifacts
            .WithEnvironment("MINIO_NOTIFY_AMQP_ENABLE_INGESTION", "on")
            .WithEnvironment("MINIO_NOTIFY_AMQP_URL_INGESTION",
                ReferenceExpression.Create($"amqp://guest:{messaging.Resource.PasswordParameter}@messaging:5672"))
            .WithEnvironment("MINIO_NOTIFY_AMQP_EXCHANGE_INGESTION", "minio-events")
            .WithEnvironment("MINIO_NOTIFY_AMQP_EXCHANGE_TYPE_INGESTION", "fanout")
            .WithEnvironment("MINIO_NOTIFY_AMQP_DURABLE_INGESTION", "on")
            .WaitFor(messaging);

        var state = builder.AddPostgres("state");
        var database = state.AddDatabase("finetune");

        if (builder.ExecutionContext.IsRunMode)
        {
            // Locally, containers outlive the AppHost and keep their data: a restart must not re-pull images,
            // re-create buckets or lose a half-finished run. A publish leaves both decisions to the deployment.
            messaging.WithLifetime(ContainerLifetime.Persistent).WithDataVolume();
            artifacts.WithLifetime(ContainerLifetime.Persistent).WithVolume("finetune-artifacts-data", "/data");
            state.WithLifetime(ContainerLifetime.Persistent).WithDataVolume();
        }

        return new PipelineServers(InfrastructureMode.Containers,
            [messaging, artifacts, database],
            messaging.Resource.ConnectionStringExpression,
            database.Resource.ConnectionStringExpression,
            ReferenceExpression.Create($"{artifacts.GetEndpoint("api").Property(EndpointProperty.HostAndPort)}"),
            ReferenceExpression.Create($"{user.Resource}"),
            ReferenceExpression.Create($"{password.Resource}"),
            BucketNotificationsExchange: "minio-events",
            BucketNotificationsTarget: "arn:minio:sqs::INGESTION:amqp");
    }
}
