// One download in progress: the bytes go to a hidden temporary file beside the destination while being hashed;
// Commit checks them against the ArtifactRef and renames (so a reader never sees a partial or wrong file), and
// disposing removes whatever was not committed.
using FineTune.Contracts;

namespace FineTune.Artifacts;

internal sealed class VerifiedDownload : IAsyncDisposable
{
    readonly ArtifactRef _artifact;
    readonly string _path;
    readonly string _temp;
    (string Sha256, long Bytes)? _received;
    bool _committed;

    VerifiedDownload(ArtifactRef artifact, string path, string temp) =>
        (_artifact, _path, _temp) = (artifact, path, temp);

    public static VerifiedDownload Start(ArtifactRef artifact, string path)
    {
        ThrowIfInvalid(artifact);
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        return new VerifiedDownload(artifact, full,
            Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.part"));
    }

    public async Task ReceiveAsync(Stream source, CancellationToken ct)
    {
        await using var file = new FileStream(_temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16,
            FileOptions.Asynchronous);
        _received = await HashingCopy.CopyAsync(source, file, ct);
    }

    public void Commit()
    {
        if (_received is not { } received)
            throw new InvalidOperationException($"download of {_artifact.Bucket}/{_artifact.Key} received no content.");
        if (received.Sha256 != _artifact.Sha256 || received.Bytes != _artifact.Bytes)
            throw Mismatch(_artifact, received.Sha256, received.Bytes);
        File.Move(_temp, _path, overwrite: true);
        _committed = true;
    }

    public ValueTask DisposeAsync()
    {
        if (!_committed)
            try
            {
                File.Delete(_temp);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        return ValueTask.CompletedTask;
    }

    internal static ArtifactIntegrityException Mismatch(ArtifactRef artifact, string actualSha256, long actualBytes) =>
        new($"artifact {artifact.Bucket}/{artifact.Key} does not match its reference: expected sha256 " +
            $"{artifact.Sha256} " +
            $"({artifact.Bytes} bytes), got {actualSha256} ({actualBytes} bytes) (overwritten or corrupted in the " +
                $"store? " +
            "re-run the stage that produced it)");

    internal static void ThrowIfInvalid(ArtifactRef artifact)
    {
        ArgumentNullException.ThrowIfNull(artifact);
        ArtifactKeys.ValidateBucket(artifact.Bucket, nameof(artifact));
        ArtifactKeys.ValidateKey(artifact.Key, nameof(artifact));
        if (artifact.Sha256 is not { Length: 64 } sha || !sha.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"artifact {artifact.Bucket}/{artifact.Key} has sha256 '{artifact.Sha256}', " +
                $"not 64 lower-case hex digits (was the reference built by a store?).", nameof(artifact));
        ArgumentOutOfRangeException.ThrowIfNegative(artifact.Bytes, nameof(artifact));
    }
}
