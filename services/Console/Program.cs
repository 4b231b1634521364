// The web console (lib/FineTune.Console) as a service: runs with live training charts, evaluation side by side, the
// registry with promote and rollback, behind console keys. Against the services' servers (appsettings.json, the
// AppHost) its promote and rollback go to the Deployment service over RabbitMQ; over a local pipeline home instead
// (Console:Home, what `finetune run` writes) it carries the deployment stage itself so they act in-process.
using FineTune.Console;
using FineTune.Pipeline;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Hosting;
using FineTune.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
if (builder.Configuration["Console:Home"] is { Length: > 0 } home)
{
    home = Path.GetFullPath(home);
    builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Pipeline:WorkDirectory"] = Path.Combine(home, "work"),
        ["Pipeline:WatchIngestionBucket"] = "false",
        ["Artifacts:LocalDirectory"] = Path.Combine(home, "artifacts"),
        ["Registry:Provider"] = "sqlite",
        ["Registry:ConnectionString"] = $"Data Source={Path.Combine(home, "registry.db")}",
        ["Artifacts:S3Endpoint"] = "", ["Messaging:RabbitMqUri"] = "",
    });
}
builder.AddServiceDefaults();
bool local = string.IsNullOrEmpty(builder.Configuration[$"{MessagingOptions.Section}:RabbitMqUri"]);
builder.AddPipelineService(p =>
{
    if (local)
        p.AddDeploymentStage();
});
builder.AddFineTuneConsole();

var app = builder.Build();
app.MapDefaultEndpoints();
app.MapFineTuneConsole();
app.Run();
