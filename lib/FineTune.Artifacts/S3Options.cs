// Where the S3/MinIO endpoint is and how to sign for it (bound from configuration section "Artifacts:S3" or built in
// tests). Endpoint is "host:port", or a URL whose scheme then decides TLS. ToString leaves the secret out.
using System.Text;

namespace FineTune.Artifacts;

public sealed record S3Options
{
    /// <summary>"127.0.0.1:9479", "minio:9000" or "https://s3.example.com" (path-style requests).</summary>
    public required string Endpoint { get; init; }
    public required string AccessKey { get; init; }
    public required string SecretKey { get; init; }
    public bool UseSsl { get; init; }
    /// <summary>Signing region; when null the client asks the server per bucket (GET ?location), then uses
    /// us-east-1.</summary>
    public string? Region { get; init; }

    bool PrintMembers(StringBuilder builder)
    {
        builder.Append($"Endpoint = {Endpoint}, AccessKey = {AccessKey}, SecretKey = ***, UseSsl = {UseSsl}, Region " +
            $"= {Region}");
        return true;
    }
}
