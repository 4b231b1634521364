// The local store's side file .meta/{bucket}/{key}.json: the object's hash, size and ETag, so Stat and List need not
// rehash. It records the data file's last-write time too, so a data file replaced or edited since is noticed and
// rehashed.
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Artifacts;

/// <summary><paramref name="Written"/>: the data file's last-write time (UTC ticks) when <paramref name="Sha256"/> was
/// taken.</summary>
internal sealed record LocalObjectMeta(string Sha256, long Bytes, [property: JsonPropertyName("etag")] string ETag,
    DateTimeOffset Created, long Written)
{
    public bool Describes(FileInfo data) => Bytes == data.Length && Written == data.LastWriteTimeUtc.Ticks;

    public Task WriteAsync(string path, CancellationToken ct) =>
        File.WriteAllBytesAsync(path, JsonSerializer.SerializeToUtf8Bytes(this, ArtifactJson.Default.LocalObjectMeta),
            ct);

    /// <summary>The side file, or null when it is missing or unreadable (the caller rehashes).</summary>
    public static async Task<LocalObjectMeta?> ReadAsync(string path, CancellationToken ct)
    {
        try
        {
            return JsonSerializer.Deserialize(await File.ReadAllBytesAsync(path, ct),
                ArtifactJson.Default.LocalObjectMeta);
        }
        catch (Exception e) when (e is JsonException or FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }
}
