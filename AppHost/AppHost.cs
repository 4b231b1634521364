// FineTune.AppHost: the whole local topology in one file, infrastructure first, then the stage services in order.
// Run: dotnet run --project AppHost/FineTune.AppHost.csproj (needs nuget.org and a container runtime; see README.md).

var builder = DistributedApplication.CreateBuilder(args);

// ---- Infrastructure ----

// Commands and events between the stages; the management UI shows queues, rates and the _error queues.
var messaging = builder.AddRabbitMQ("messaging")
    .WithManagementPlugin();

// Datasets, tokenized shards, checkpoints and adapters, addressed by ArtifactRef. Plain container: only official
// Aspire packages here. The password is generated once and kept in user secrets, so the data volume stays readable.
var artifactsUser = builder.AddParameter("artifacts-user", "finetune");
var artifactsPassword = builder.AddParameter("artifacts-password",
    new GenerateParameterDefault { MinLength = 20, Special = false }, secret: true, persist: true);
var artifacts = builder.AddContainer("artifacts", "minio/minio", "RELEASE.2025-09-07T16-13-09Z")
    .WithArgs("server", "/data", "--console-address", ":9001")
    .WithEnvironment("MINIO_ROOT_USER", artifactsUser)
    .WithEnvironment("MINIO_ROOT_PASSWORD", artifactsPassword)
    .WithHttpEndpoint(targetPort: 9000, name: "api")
    .WithHttpEndpoint(targetPort: 9001, name: "console")
    .WithHttpHealthCheck("/minio/health/live", endpointName: "api");
var artifactsApi = artifacts.GetEndpoint("api");

// Bucket-to-ingestion wiring: MinIO sends an event per created object to the fanout exchange "minio-events" (target
// arn:minio:sqs::INGESTION:amqp); the Ingestion service subscribes the ingestion bucket to it at start and scans on
// each event. Its reconciliation scan still runs, for anything dropped while it was down.
artifacts
    .WithEnvironment("MINIO_NOTIFY_AMQP_ENABLE_INGESTION", "on")
    .WithEnvironment("MINIO_NOTIFY_AMQP_URL_INGESTION",
        ReferenceExpression.Create($"amqp://guest:{messaging.Resource.PasswordParameter}@messaging:5672"))
    .WithEnvironment("MINIO_NOTIFY_AMQP_EXCHANGE_INGESTION", "minio-events")
    .WithEnvironment("MINIO_NOTIFY_AMQP_EXCHANGE_TYPE_INGESTION", "fanout")
    .WithEnvironment("MINIO_NOTIFY_AMQP_DURABLE_INGESTION", "on")
    .WaitFor(messaging);

// Run and job state, the inbox table, training checkpoints' bookkeeping.
var state = builder.AddPostgres("state");
var finetuneDb = state.AddDatabase("finetune");

if (builder.ExecutionContext.IsRunMode)
{
    // Locally, containers outlive the AppHost and keep their data: restarting a service loop must not re-pull images,
    // re-create buckets or lose a half-finished run. A publish leaves both decisions to the deployment.
    messaging.WithLifetime(ContainerLifetime.Persistent).WithDataVolume();
    artifacts.WithLifetime(ContainerLifetime.Persistent).WithVolume("finetune-artifacts-data", "/data");
    state.WithLifetime(ContainerLifetime.Persistent).WithDataVolume();
}

// ---- Services, in pipeline order ----
// Each says what it uses; the configuration keys are the ones scripts/pipeline-start.sh sets without Aspire.
var s3Endpoint = ReferenceExpression.Create($"{artifactsApi.Property(EndpointProperty.HostAndPort)}");

IResourceBuilder<ProjectResource> Stage<TProject>(string name) where TProject : IProjectMetadata, new() =>
    builder.AddProject<TProject>(name)
        .WithReference(messaging).WaitFor(messaging)
        .WithReference(finetuneDb).WaitFor(finetuneDb)
        .WaitFor(artifacts)
        .WithEnvironment("Messaging__RabbitMqUri", messaging)
        .WithEnvironment("Registry__Provider", "postgres")
        .WithEnvironment("Registry__ConnectionString", finetuneDb)
        .WithEnvironment("Artifacts__S3Endpoint", s3Endpoint)
        .WithEnvironment("Artifacts__S3AccessKey", artifactsUser)
        .WithEnvironment("Artifacts__S3SecretKey", artifactsPassword)
        .WithHttpHealthCheck("/health");

// Ingestion watches the ingestion bucket (its reconciliation scan lists it; MinIO's bucket notifications can be
// pointed at RabbitMQ in production) and starts a run per new file.
var ingestion = Stage<Projects.FineTune_IngestionService>("ingestion")
    .WithEnvironment("Pipeline__BucketNotificationsExchange", "minio-events")
    .WithEnvironment("Pipeline__BucketNotificationsTarget", "arn:minio:sqs::INGESTION:amqp");
var tokenization = Stage<Projects.FineTune_TokenizationService>("tokenization");
// Several replicas compete for training jobs (one job per replica); a crashed one's job resumes elsewhere.
var training = Stage<Projects.FineTune_TrainingService>("training");
var evaluation = Stage<Projects.FineTune_EvaluationService>("evaluation");
var deployment = Stage<Projects.FineTune_DeploymentService>("deployment")
    .WithHttpCommand("/models/default/rollback", "Roll back production");

builder.Build().Run();
