// FineTune.AppHost: the distributed pipeline under Aspire — the infrastructure (containers where a container runtime
// answers, local executables where none does), then the five stage services in pipeline order and the web console,
// with the dashboard showing their resources, logs, traces and metrics. Run: dotnet run --project AppHost (see
// README.md).
using FineTune.AppHost;
using FineTune.AppHost.Infrastructure;
using Microsoft.Extensions.Configuration;

var builder = DistributedApplication.CreateBuilder(args);
var repository = Path.GetFullPath(Path.Combine(builder.AppHostDirectory, ".."));

// ---- Infrastructure ----
var options = builder.Configuration.GetSection(InfrastructureOptions.Section).Get<InfrastructureOptions>() ?? new();
var mode = builder.Configuration[$"Parameters:{InfrastructureOptions.ModeParameter}"] is { Length: > 0 } named
    ? Enum.Parse<InfrastructureMode>(named, ignoreCase: true)
    : options.Mode;
if (mode == InfrastructureMode.Auto)
    mode = ContainerRuntime.Answers(builder.Configuration["ASPIRE_CONTAINER_RUNTIME"])
        ? InfrastructureMode.Containers
        : InfrastructureMode.Executables;
// Shown in the dashboard's parameters, so a person sees which way was taken.
builder.AddParameter(InfrastructureOptions.ModeParameter, mode.ToString().ToLowerInvariant());
var data = Path.GetFullPath(options.DataDirectory ?? Path.Combine(repository, ".run", "aspire"));
var servers = mode == InfrastructureMode.Containers
    ? ContainerServers.Add(builder)
    : ExecutableServers.Add(builder, repository, data, options);

// ---- Services, in pipeline order ----
// Every key under "Services" reaches every service as configuration (Services:Pipeline:Threads=1 →
// Pipeline__Threads=1): how the end-to-end test gives them a small base model and fast settings.
var shared = builder.Configuration.GetSection("Services").AsEnumerable(makePathsRelative: true)
    .Where(kv => kv.Value is not null)
    .ToDictionary(kv => kv.Key.Replace(":", "__", StringComparison.Ordinal), kv => kv.Value!);

IResourceBuilder<ProjectResource> Stage<TProject>(string name) where TProject : IProjectMetadata, new()
{
    var stage = servers.Configure(builder.AddProject<TProject>(name))
        .WithHttpEndpoint(name: "http")
        .WithHttpHealthCheck("/health")
        .WithEnvironment("Pipeline__WorkDirectory", Path.Combine(data, "work", name))
        .WithUrlForEndpoint("http", u => u.DisplayLocation = UrlDisplayLocation.DetailsOnly)
        .WithUrls(c =>
        {
            var http = c.GetEndpoint("http")!;
            c.Urls.Add(new() { Url = $"{http.Url}/runs", DisplayText = "Runs", Endpoint = http });
            c.Urls.Add(new() { Url = $"{http.Url}/openapi/v1.json", DisplayText = "OpenAPI", Endpoint = http });
        });
    foreach (var (key, value) in shared)
        stage.WithEnvironment(key, value);
    return stage;
}

// Ingestion watches the ingestion bucket and starts a run per new file (MinIO also announces new objects).
var ingestion = Stage<Projects.FineTune_IngestionService>("ingestion")
    .WithDropSampleCommand()
    .WithCancelRunCommand();
if (servers.BucketNotificationsExchange is { } exchange)
    ingestion
        .WithEnvironment("Pipeline__BucketNotificationsExchange", exchange)
        .WithEnvironment("Pipeline__BucketNotificationsTarget", servers.BucketNotificationsTarget);
Stage<Projects.FineTune_TokenizationService>("tokenization");
// Replicas compete for training jobs (one job each); a stopped one's job resumes on another from its checkpoint.
Stage<Projects.FineTune_TrainingService>("training")
    .WithReplicas(builder.Configuration.GetValue("TrainingReplicas", 2));
var evaluation = Stage<Projects.FineTune_EvaluationService>("evaluation");
// The judge suite's endpoint and model come from the "Judge" section (--Judge:Model=gpt-4o-mini, --Judge:Endpoint=…);
// its key is a secret parameter (--Parameters:judge-api-key=KEY, or user secrets), handed to the service in an
// environment variable that the options name, so it is never part of its configuration or logs.
if (builder.Configuration["Judge:Model"] is { Length: > 0 } judgeModel)
{
    var judgeKey = builder.AddParameter("judge-api-key", secret: true);
    evaluation
        .WithEnvironment("Judge__Endpoint", builder.Configuration["Judge:Endpoint"] ?? "https://api.openai.com/v1")
        .WithEnvironment("Judge__Model", judgeModel)
        .WithEnvironment("Judge__ApiKeyVariable", "FINETUNE_JUDGE_API_KEY")
        .WithEnvironment("FINETUNE_JUDGE_API_KEY", judgeKey);
}
// The key for the Deployment service's OpenAI endpoint: generated once, kept in user secrets, shown (masked) under the
// dashboard's parameters; `--Parameters:serving-api-key=KEY` sets it.
var servingKey = builder.AddParameter("serving-api-key",
    new GenerateParameterDefault { MinLength = 32, Special = false }, secret: true, persist: true);
var deployment = Stage<Projects.FineTune_DeploymentService>("deployment")
    .WithEnvironment("FINETUNE_API_KEY", servingKey)
    .WithRollBackCommand()
    .WithUrls(c =>
    {
        var http = c.GetEndpoint("http")!;
        c.Urls.Add(new() { Url = $"{http.Url}/models", DisplayText = "Models", Endpoint = http });
        c.Urls.Add(new() { Url = $"{http.Url}/v1/models", DisplayText = "OpenAI endpoint (/v1)", Endpoint = http });
    });

// The web console: runs with live training charts, evaluation side by side, the registry with promote and rollback.
// It signs in with the serving key (as an admin key); its promote and rollback go to the Deployment service, and its
// playground asks the Deployment service's OpenAI endpoint with that key (held by the console, never sent out).
servers.Configure(builder.AddProject<Projects.FineTune_ConsoleService>("console"))
    .WithHttpEndpoint(name: "http")
    .WithHttpHealthCheck("/health")
    .WithEnvironment("Pipeline__WorkDirectory", Path.Combine(data, "work", "console"))
    .WithEnvironment("Console__AdminKeys__0", servingKey)
    .WithEnvironment("Console__ServingUrl", deployment.GetEndpoint("http"))
    .WithEnvironment("Console__ServingKey", servingKey)
    .WithUrlForEndpoint("http", u => u.DisplayText = "Console");

builder.Build().Run();
