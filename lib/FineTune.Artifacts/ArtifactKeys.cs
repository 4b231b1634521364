// Deterministic, content-addressed keys: SHA-256 helpers (lower-case hex), the stage key scheme
// {stage}/{runId:N}/{inputsHash[..16]}/{file}, and the bucket and key rules every store enforces.
using System.Security.Cryptography;
using System.Text;

namespace FineTune.Artifacts;

public static class ArtifactKeys
{
    /// <summary>S3's limit on a key, in UTF-8 bytes.</summary>
    public const int MaxKeyBytes = 1024;

    /// <summary>The Minio client's limit on an object name, in UTF-16 characters.</summary>
    public const int MaxKeyChars = 512;

    public static string Sha256OfText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }

    public static string Sha256OfStream(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    public static async Task<string> Sha256OfStreamAsync(Stream stream, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(stream);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, ct));
    }

    public static string Sha256OfFile(string path)
    {
        using var file = OpenRead(path, FileOptions.SequentialScan);
        return Sha256OfStream(file);
    }

    public static async Task<string> Sha256OfFileAsync(string path, CancellationToken ct = default)
    {
        await using var file = OpenRead(path, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return await Sha256OfStreamAsync(file, ct);
    }

    /// <summary>One hash for several inputs: SHA-256 of the parts joined with '\n' (order matters).</summary>
    public static string Combine(params string[] hashes)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        foreach (var hash in hashes)
        {
            ArgumentNullException.ThrowIfNull(hash, nameof(hashes));
            if (hash.Contains('\n'))
                throw new ArgumentException($"hash part '{hash}' contains a newline, which would make the combined " +
                    $"hash ambiguous.", nameof(hashes));
        }
        return Sha256OfText(string.Join('\n', hashes));
    }

    /// <summary>The key of a stage output: <c>{stage}/{runId:N}/{inputsHash[..16]}/{file}</c>. A redelivered message
    /// computes the same key from the same inputs and finds its output.</summary>
    public static string For(string stage, Guid runId, string inputsHash, string file)
    {
        ArgumentException.ThrowIfNullOrEmpty(stage);
        ArgumentException.ThrowIfNullOrEmpty(inputsHash);
        if (!stage.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-'))
            throw new ArgumentException($"stage '{stage}' must be lower-case letters, digits and '-' (like " +
                $"'tokenization').", nameof(stage));
        if (runId == Guid.Empty)
            throw new ArgumentException("runId is Guid.Empty (was the message's RunId set?).", nameof(runId));
        if (inputsHash.Length < 16 || !inputsHash.All(char.IsAsciiHexDigitLower))
            throw new ArgumentException($"inputsHash '{inputsHash}' must be lower-case hex of at least 16 digits " +
                $"(use ArtifactKeys.Combine or Sha256Of*).", nameof(inputsHash));
        ValidateKey(file, nameof(file));
        return $"{stage}/{runId:N}/{inputsHash[..16]}/{file}";
    }

    /// <summary>S3 bucket rules: 3–63 of lower-case letters, digits, '-' and '.', starting and ending with a letter or
    /// digit.</summary>
    public static void ValidateBucket(string bucket, string paramName = "bucket")
    {
        ArgumentNullException.ThrowIfNull(bucket, paramName);
        var ok = bucket.Length is >= 3 and <= 63
            && bucket.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.')
            && char.IsAsciiLetterOrDigit(bucket[0]) && char.IsAsciiLetterOrDigit(bucket[^1]) && !bucket.Contains("..");
        if (!ok)
            throw new ArgumentException($"bucket '{bucket}' is not a valid bucket name (3-63 lower-case letters, " +
                $"digits, '-' or '.', e.g. 'models').", paramName);
    }

    /// <summary>A key is '/'-separated segments: not empty, no leading or trailing '/', no empty, '.' or '..' segment,
    /// no backslash or control character, at most <see cref="MaxKeyChars"/> characters and <see cref="MaxKeyBytes"/>
    /// UTF-8 bytes.</summary>
    public static void ValidateKey(string key, string paramName = "key")
    {
        ArgumentNullException.ThrowIfNull(key, paramName);
        if (KeyProblem(key) is { } problem)
            throw new ArgumentException($"key '{key}' {problem}.", paramName);
    }

    /// <summary>A listing prefix: empty, or a key, or a key followed by '/'.</summary>
    public static void ValidatePrefix(string prefix, string paramName = "prefix")
    {
        ArgumentNullException.ThrowIfNull(prefix, paramName);
        if (prefix.Length > 0 && KeyProblem(prefix.EndsWith('/') ? prefix[..^1] : prefix) is { } problem)
            throw new ArgumentException($"prefix '{prefix}' {problem}.", paramName);
    }

    internal static string? KeyProblem(string key)
    {
        if (key.Length == 0)
            return "is empty";
        if (key[0] == '/')
            return "starts with '/' (keys are relative: 'stage/run/file')";
        if (key.Contains('\\'))
            return "contains a backslash (use '/' between segments)";
        if (key.Any(char.IsControl))
            return "contains a control character";
        if (key.Length > MaxKeyChars || Encoding.UTF8.GetByteCount(key) > MaxKeyBytes)
            return $"is longer than {MaxKeyChars} characters or {MaxKeyBytes} UTF-8 bytes (the Minio client's and " +
                $"S3's limits)";
        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0)
                return "has an empty segment ('//' or a trailing '/')";
            if (segment is "." or "..")
                return $"has a '{segment}' segment (keys cannot climb or alias directories)";
        }
        return null;
    }

    static FileStream OpenRead(string path, FileOptions options)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!File.Exists(path))
            throw new FileNotFoundException($"cannot hash '{path}': file not found (was it written before hashing?)",
                path);
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, options);
    }
}
