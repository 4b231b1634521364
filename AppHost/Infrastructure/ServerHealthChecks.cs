// Health checks for the executables: each server is healthy when it answers its own protocol, not merely when its
// port is open (RabbitMQ opens the port before it accepts connections; PostgreSQL must have the finetune database).
using System.Net.Sockets;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace FineTune.AppHost.Infrastructure;

/// <summary>Sends the AMQP 0-9-1 protocol header; a broker that is ready answers with a Connection.Start method
/// frame (frame type 1).</summary>
public sealed class AmqpHealthCheck(string host, int port) : IHealthCheck
{
    static readonly byte[] ProtocolHeader = "AMQP\0\0\u0009\u0001"u8.ToArray();

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            using var client = new TcpClient();
            await client.ConnectAsync(host, port, timeout.Token);
            var stream = client.GetStream();
            await stream.WriteAsync(ProtocolHeader, timeout.Token);
            var frame = new byte[1];
            var read = await stream.ReadAsync(frame, timeout.Token);
            return read == 1 && frame[0] == 1
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"{host}:{port} did not answer the AMQP protocol header");
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"no AMQP broker on {host}:{port}: {e.Message}");
        }
    }
}

/// <summary>Opens a connection to the finetune database and runs <c>select 1</c>.</summary>
public sealed class PostgresHealthCheck(string connectionString) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            await using var connection = new NpgsqlConnection(connectionString + ";Timeout=5;Pooling=false");
            await connection.OpenAsync(ct);
            await using var command = new NpgsqlCommand("select 1", connection);
            await command.ExecuteScalarAsync(ct);
            return HealthCheckResult.Healthy();
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"PostgreSQL is not ready: {e.Message}");
        }
    }
}

/// <summary>Healthy when the server answers HTTP at all (s3rver answers an unsigned request with an error
/// document).</summary>
public sealed class HttpAnswersHealthCheck(Uri uri) : IHealthCheck
{
    // One client for the check's lifetime: it runs every few seconds, and a client per call churns sockets.
    readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
    {
        try
        {
            using var response = await _http.GetAsync(uri, ct);
            return (int)response.StatusCode < 500
                ? HealthCheckResult.Healthy()
                : HealthCheckResult.Unhealthy($"{uri} answered {(int)response.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return HealthCheckResult.Unhealthy($"no HTTP answer from {uri}: {e.Message}");
        }
    }
}
