// Evaluation results kept per model and suite: a run whose baseline (production, or the base model) was evaluated
// before — as a baseline, or as the candidate it was before its promotion — on the same suite, set or test split,
// format version and decoding settings reads those results instead of evaluating it again. A new dataset changes the
// test split's suites but not MMLU's or GSM8K's, which stay cached. The entry's name is the SHA-256 of everything that
// could change a number, so an entry is never reused across a change in any of them.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Evals;

namespace FineTune.Pipeline.Evaluation;

/// <summary>What one suite's results for one model depend on. <paramref name="ModelSha256"/> is null for the base
/// model alone; <paramref name="Inputs"/> names the suite's data (the test split's or the evaluation set's hash, the
/// sample scored) and decoding settings (SuiteSetup.Keys); <paramref name="Judge"/> is the judge's endpoint and model
/// when it grades the model.</summary>
public sealed record BaselineCacheKey(string BaseModelSha256, string? ModelSha256, string Kind, string Suite,
    string FormatVersion, string Inputs, string? Judge = null)
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
    public async Task<SuiteResult?> TryGetAsync(BaselineCacheKey key, string work, CancellationToken ct)
    {
        var info = await store.StatAsync(Buckets.Evaluations, ObjectKey(key), ct);
        if (info?.Sha256 is null)
            return null;
        var path = Path.Combine(work, $"cache-{key.Hash()[..16]}.json");
        try
        {
            await store.GetFileAsync(new ArtifactRef(info.Bucket, info.Key, info.Sha256, info.Bytes), path, ct);
            return EvalReport.Load(path).Suites is [{ Error: null } suite] && suite.Suite == key.Suite
                && suite.FormatVersion == key.FormatVersion ? suite : null;
        }
        catch (Exception e) when (e is ArtifactIntegrityException or ArtifactNotFoundException or JsonException
            or InvalidDataException)
        {
            return null;
        }
    }

    public async Task PutAsync(BaselineCacheKey key, string model, SuiteResult result, string work,
        CancellationToken ct)
    {
        if (result.Error is not null || result.Suite != key.Suite)
            return;
        var path = Path.Combine(work, $"cache-entry-{key.Hash()[..16]}.json");
        await File.WriteAllTextAsync(path, new EvalReport(model, DateTimeOffset.UtcNow, [result]).ToJson(), ct);
        await store.PutFileAsync(Buckets.Evaluations, ObjectKey(key), path, ct);
    }
}
