// Where the operator commands (upload, runs, events, checkpoints, cancel, models, promote, rollback) find the
// pipeline: FINETUNE_POSTGRES / FINETUNE_S3_* / FINETUNE_RABBITMQ (the services' servers, see
// scripts/pipeline-start.sh), else the local pipeline under --home (what `finetune run` uses). They read the registry
// and the store directly, and send promote/rollback as messages so Deployment (and serving) act on them.
using System.CommandLine;
using FineTune.Artifacts;
using FineTune.Pipeline;
using FineTune.Pipeline.Deployment;
using FineTune.Registry;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Cli.Commands;

/// <summary>The registry, store and (for commands) bus the operator commands use.</summary>
sealed class PipelineConnection
{
    public required RunRegistry Registry { get; init; }
    public required IArtifactStore Store { get; init; }
    public required bool Distributed { get; init; }
    public string? RabbitMq { get; init; }
    public required string Home { get; init; }

    // Given: that local pipeline home. Not given: the services' servers when FINETUNE_POSTGRES is set, else .finetune.
    public static Option<string?> HomeOption()
        => new("--home")
        {
            Description = "A local pipeline home (as `finetune run --home`); default: the services' servers when " +
            "FINETUNE_POSTGRES is set, else .finetune"
        };

    public static PipelineConnection From(string? homeOption)
    {
        bool local = homeOption is not null
            || Environment.GetEnvironmentVariable("FINETUNE_POSTGRES") is not { Length: > 0 };
        var pg = local ? null : Environment.GetEnvironmentVariable("FINETUNE_POSTGRES");
        var s3 = local ? null : Environment.GetEnvironmentVariable("FINETUNE_S3_ENDPOINT");
        var home = Path.GetFullPath(homeOption ?? ".finetune");
        return new PipelineConnection
        {
            Registry = RunRegistry.Create(pg is { Length: > 0 } ? new RegistryOptions("postgres", pg)
                : new RegistryOptions("sqlite", $"Data Source={Path.Combine(home, "registry.db")}")),
            Store = new ArtifactStoreOptions
            {
                S3Endpoint = s3,
                S3AccessKey = Environment.GetEnvironmentVariable("FINETUNE_S3_ACCESS_KEY") ?? "",
                S3SecretKey = Environment.GetEnvironmentVariable("FINETUNE_S3_SECRET_KEY") ?? "",
                BucketPrefix = Environment.GetEnvironmentVariable("FINETUNE_S3_BUCKET_PREFIX"),
                LocalDirectory = Path.Combine(home, "artifacts"),
            }.Create(),
            Distributed = s3 is { Length: > 0 },
            RabbitMq = !local
                && Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ") is { Length: > 0 } r ? r : null,
            Home = home,
        };
    }

    /// <summary>Publishes a command: over RabbitMQ to the Deployment service, or to a local Deployment
    /// consumer.</summary>
    public async Task SendAsync<T>(T message, CancellationToken ct) where T : class
    {
        if (RabbitMq is { } uri)
        {
            var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(uri)));
            await bus.StartAsync(ct);
            try
            {
                await bus.Publish(message, ct);
            }
            finally
            {
                await bus.StopAsync(CancellationToken.None);
            }
            return;
        }
        await using var local = await LocalPipeline.StartAsync(Home, stages: p => p.AddDeploymentStage(), ct: ct);
        await local.Services.GetRequiredService<IBus>().Publish(message, ct);
        await Task.Delay(TimeSpan.FromSeconds(1), ct);   // the in-memory consumer runs before the host stops
    }

    public async Task<int?> WaitForAliasAsync(string project, string alias, Func<int?, bool> done, CancellationToken ct)
    {
        for (int i = 0; i < 60; i++)
        {
            var v = await Registry.ReadAsync(s => s.GetAliasAsync(project, alias, ct), ct);
            if (done(v))
                return v;
            await Task.Delay(500, ct);
        }
        throw new TimeoutException($"{project}/{alias} did not change within 30 s: is the Deployment service running?");
    }
}
