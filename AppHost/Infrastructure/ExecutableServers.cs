// The infrastructure as local processes, for machines without a container runtime (this one, many laptops and CI
// runners): Debian's rabbitmq-server and PostgreSQL and the s3rver S3 stand-in, each run in the foreground by its
// scripts/servers/*.sh (which installs it when missing), on loopback ports, its data under the data directory so it
// survives an AppHost restart. Each is healthy when it answers its own protocol (ServerHealthChecks).
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.AppHost.Infrastructure;

public static class ExecutableServers
{
    public const string S3User = "S3RVER";   // s3rver's fixed credentials

    public static PipelineServers Add(IDistributedApplicationBuilder builder, string repository, string data,
        InfrastructureOptions o)
    {
        IResourceBuilder<ExecutableResource> Server(string name, string script) =>
            builder.AddExecutable(name, "bash", repository, Path.Combine("scripts", "servers", script))
                .WithEnvironment("FINETUNE_DATA", data);

        var messaging = Server("messaging", "rabbitmq.sh")
            .WithEnvironment("FINETUNE_RABBITMQ_PORT", Port(o.RabbitMqPort))
            .WithEnvironment("FINETUNE_RABBITMQ_MANAGEMENT_PORT", Port(o.RabbitMqManagementPort))
            .WithEnvironment("FINETUNE_RABBITMQ_DIST_PORT", Port(o.RabbitMqDistributionPort))
            .WithEnvironment("FINETUNE_RABBITMQ_NODE", o.RabbitMqNode)
            .WithEndpoint(name: "amqp", port: o.RabbitMqPort, scheme: "tcp", isProxied: false)
            .WithHttpEndpoint(name: "management", port: o.RabbitMqManagementPort, isProxied: false)
            .WithUrlForEndpoint("amqp", u => u.DisplayLocation = UrlDisplayLocation.DetailsOnly)
            .WithUrlForEndpoint("management", u => u.DisplayText = "RabbitMQ management (guest/guest)")
            .WithHealthCheck("messaging-amqp");

        var state = Server("state", "postgres.sh")
            .WithEnvironment("FINETUNE_POSTGRES_PORT", Port(o.PostgresPort))
            .WithEndpoint(name: "postgres", port: o.PostgresPort, scheme: "tcp", isProxied: false)
            .WithUrlForEndpoint("postgres", u => u.DisplayLocation = UrlDisplayLocation.DetailsOnly)
            .WithHealthCheck("state-finetune");

        var artifacts = Server("artifacts", "s3.sh")
            .WithEnvironment("FINETUNE_S3_PORT", Port(o.S3Port))
            .WithHttpEndpoint(name: "api", port: o.S3Port, isProxied: false)
            .WithUrlForEndpoint("api", u => u.DisplayText = "S3 endpoint (S3RVER/S3RVER; s3rver has no console)")
            .WithHealthCheck("artifacts-s3");

        var postgres = $"Host=127.0.0.1;Port={o.PostgresPort};Username=postgres;Database=finetune";
        builder.Services.AddHealthChecks()
            .AddCheck("messaging-amqp", new AmqpHealthCheck("127.0.0.1", o.RabbitMqPort))
            .AddCheck("state-finetune", new PostgresHealthCheck(postgres))
            .AddCheck("artifacts-s3", new HttpAnswersHealthCheck(new Uri($"http://127.0.0.1:{o.S3Port}/")));

        return new PipelineServers(InfrastructureMode.Executables,
            [messaging, state, artifacts],
            ReferenceExpression.Create($"amqp://guest:guest@127.0.0.1:{Port(o.RabbitMqPort)}/"),
            ReferenceExpression.Create($"{postgres}"),
            ReferenceExpression.Create($"127.0.0.1:{Port(o.S3Port)}"),
            ReferenceExpression.Create($"{S3User}"),
            ReferenceExpression.Create($"{S3User}"));
    }

    static string Port(int port) => port.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
