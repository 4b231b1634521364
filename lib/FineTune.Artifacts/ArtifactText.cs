// A small text artifact (a data card, a gate's verdict, settings) read whole: fetched and verified like any download,
// refused past a size limit so a page or a monitor never loads something huge by mistake.
using FineTune.Contracts;

namespace FineTune.Artifacts;

public static class ArtifactText
{
    public const long DefaultMaxBytes = 64 << 20;

    public static async Task<string> ReadAsync(IArtifactStore store, ArtifactRef artifact, CancellationToken ct,
        long maxBytes = DefaultMaxBytes)
    {
        if (artifact.Bytes > maxBytes)
            throw new InvalidDataException($"{artifact.Bucket}/{artifact.Key} is {artifact.Bytes:N0} bytes; at most " +
                $"{maxBytes:N0} are read as text.");
        var path = Path.Combine(Path.GetTempPath(), $"artifact-{Guid.NewGuid():N}.txt");
        try
        {
            await store.GetFileAsync(artifact, path, ct);
            return await File.ReadAllTextAsync(path, ct);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
