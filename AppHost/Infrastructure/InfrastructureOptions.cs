// How the AppHost gets RabbitMQ, PostgreSQL and the S3 server. Bound from the configuration section "Infrastructure";
// the mode also from the parameter "infrastructure" (`dotnet run --project AppHost -- --Parameters:infrastructure=
// executables`). The ports are the executables' (containers get theirs from Aspire); they differ from
// scripts/infra-start.sh's, so the tests' servers and the AppHost's can run side by side.
namespace FineTune.AppHost.Infrastructure;

public enum InfrastructureMode
{
    /// <summary>Containers when a container runtime answers, else executables.</summary>
    Auto,
    /// <summary>RabbitMQ (with management), MinIO (with its console) and PostgreSQL as containers.</summary>
    Containers,
    /// <summary>Debian's rabbitmq-server and PostgreSQL and the s3rver S3 stand-in as local processes
    /// (scripts/servers/*.sh), installed when missing.</summary>
    Executables,
}

public sealed record InfrastructureOptions
{
    public const string Section = "Infrastructure";
    public const string ModeParameter = "infrastructure";

    public InfrastructureMode Mode { get; set; } = InfrastructureMode.Auto;
    /// <summary>The executables' data (kept across AppHost restarts) and the services' scratch space; null:
    /// .run/aspire in the repository.</summary>
    public string? DataDirectory { get; set; }
    public int RabbitMqPort { get; set; } = 5689;
    public int RabbitMqManagementPort { get; set; } = 15689;
    public int RabbitMqDistributionPort { get; set; } = 25689;
    public string RabbitMqNode { get; set; } = "ftp-aspire@localhost";
    public int PostgresPort { get; set; } = 5449;
    public int S3Port { get; set; } = 9489;
}
