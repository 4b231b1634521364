// The baseline's evaluation results, kept per model and inputs: a run whose baseline (production, or the base model)
// was evaluated before on the same test set, suites, format versions and decoding settings reads those results instead
// of evaluating it again. The entry's name is the SHA-256 of everything that could change a number, so an entry is
// never reused across a change in any of them, and never rewritten.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Evals;

namespace FineTune.Pipeline.Evaluation;

/// <summary>What a baseline's results depend on. <paramref name="Model"/> is null for the base model alone;
/// <paramref name="Suites"/> are "name@format-version".</summary>
public sealed record BaselineCacheKey(string BaseModelSha256, string? ModelSha256, string Kind, string TestSetSha256,
    IReadOnlyList<string> Suites, int MaxNewTokens, int Limit, int BatchSize, string? ChatTemplate, string? Schema)
{
    /// <summary>The entry's name: SHA-256 (hex) of the key as JSON.</summary>
    public string Hash() => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(
        JsonSerializer.Serialize(this))));
}

public sealed class BaselineCache(IArtifactStore store)
{
    public const string Prefix = "baseline-cache";

    static string ObjectKey(BaselineCacheKey key) => $"{Prefix}/{key.Hash()}.json";

    /// <summary>The cached results, or null when there are none (a damaged entry counts as none).</summary>
    public async Task<EvalReport?> TryGetAsync(BaselineCacheKey key, string work, CancellationToken ct)
    {
        var info = await store.StatAsync(Buckets.Evaluations, ObjectKey(key), ct);
        if (info?.Sha256 is null)
            return null;
        var path = Path.Combine(work, "baseline_cache.json");
        try
        {
            await store.GetFileAsync(new ArtifactRef(info.Bucket, info.Key, info.Sha256, info.Bytes), path, ct);
            return EvalReport.Load(path);
        }
        catch (Exception e) when (e is ArtifactIntegrityException or ArtifactNotFoundException or JsonException
            or InvalidDataException)
        {
            return null;
        }
    }

    public async Task PutAsync(BaselineCacheKey key, EvalReport report, string work, CancellationToken ct)
    {
        var path = Path.Combine(work, "baseline_cache_entry.json");
        await File.WriteAllTextAsync(path, report.ToJson(), ct);
        await store.PutFileAsync(Buckets.Evaluations, ObjectKey(key), path, ct);
    }
}
