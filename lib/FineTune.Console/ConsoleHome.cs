// Where the console reads and acts: the services' servers (the registry, store and RabbitMQ its configuration names;
// promote and rollback are messages the Deployment service acts on), or a local pipeline home (Console:Home, what
// `finetune run` writes), where it carries the deployment stage itself so promote and rollback act in-process. Shared
// by services/Console and `finetune console`.
using FineTune.Pipeline;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;

namespace FineTune.Console;

public static class ConsoleHome
{
    public const string HomeKey = ConsoleOptions.Section + ":Home";

    /// <summary>When Console:Home names a local pipeline home, points the pipeline's settings at it (its work folder,
    /// artifacts, SQLite registry; no S3, no RabbitMQ, no watcher: `finetune run` drives the runs).</summary>
    public static void UseLocalHome(IConfigurationManager configuration)
    {
        if (configuration[HomeKey] is not { Length: > 0 } home)
            return;
        home = Path.GetFullPath(home);
        configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Pipeline:WorkDirectory"] = Path.Combine(home, "work"),
            ["Pipeline:WatchIngestionBucket"] = "false",
            ["Artifacts:LocalDirectory"] = Path.Combine(home, "artifacts"),
            ["Registry:Provider"] = "sqlite",
            ["Registry:ConnectionString"] = $"Data Source={Path.Combine(home, "registry.db")}",
            ["Artifacts:S3Endpoint"] = "", ["Messaging:RabbitMqUri"] = "",
        });
    }

    /// <summary>The pipeline core the console reads through; without RabbitMQ, with the deployment stage in-process.
    /// </summary>
    public static IHostApplicationBuilder AddConsolePipeline(this IHostApplicationBuilder builder)
    {
        bool local = string.IsNullOrEmpty(builder.Configuration[$"{MessagingOptions.Section}:RabbitMqUri"]);
        return builder.AddPipelineService(p =>
        {
            if (local)
                p.AddDeploymentStage();
        });
    }
}
