// Where the servers of scripts/infra-start.sh listen (RabbitMQ, PostgreSQL, s3rver as the S3 stand-in), read from the
// variables it writes to .run/infra.env. Tests that need a server skip with a message when its variables are unset.
namespace FineTune.Tests;

public static class TestServers
{
    const string Hint = "run scripts/infra-start.sh and source .run/infra.env (CI does this in .ci/run)";

    /// <summary>Npgsql connection string of the test database (FINETUNE_TEST_POSTGRES), or null.</summary>
    public static string? Postgres => Env("FINETUNE_TEST_POSTGRES");

    /// <summary>AMQP URI of the RabbitMQ node (FINETUNE_RABBITMQ), or null.</summary>
    public static string? RabbitMq => Env("FINETUNE_RABBITMQ");

    /// <summary>host:port of the S3 endpoint, path-style and without TLS (FINETUNE_S3_ENDPOINT), or null.</summary>
    public static string? S3Endpoint => Env("FINETUNE_S3_ENDPOINT");

    public static string? S3AccessKey => Env("FINETUNE_S3_ACCESS_KEY");

    public static string? S3SecretKey => Env("FINETUNE_S3_SECRET_KEY");

    /// <summary>The test database's connection string; skips the test when it is not configured.</summary>
    public static string RequirePostgres() => Require(Postgres, "PostgreSQL (FINETUNE_TEST_POSTGRES)");

    /// <summary>The RabbitMQ AMQP URI; skips the test when it is not configured.</summary>
    public static string RequireRabbitMq() => Require(RabbitMq, "RabbitMQ (FINETUNE_RABBITMQ)");

    /// <summary>The S3 endpoint and its credentials; skips the test when any of them is not configured.</summary>
    public static (string Endpoint, string AccessKey, string SecretKey) RequireS3() =>
        (Require(S3Endpoint, "S3 (FINETUNE_S3_ENDPOINT)"),
         Require(S3AccessKey, "S3 (FINETUNE_S3_ACCESS_KEY)"),
         Require(S3SecretKey, "S3 (FINETUNE_S3_SECRET_KEY)"));

    static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;

    static string Require(string? value, string what)
    {
        Skip.If(value is null, $"{what} not configured: {Hint}");
        return value!;
    }
}
