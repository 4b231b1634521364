// A suite's results are reused only for the same model, suite, format, inputs (test split or evaluation set, sample)
// and decoding settings: every change of a key part misses, the same inputs hit with the same metrics and the details
// the report quotes, and a damaged entry is evaluated again rather than trusted.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Evals;
using FineTune.Pipeline.Evaluation;

namespace FineTune.Pipeline.Tests;

public class BaselineCacheTests
{
    static readonly BaselineCacheKey Key = new("base-sha", "adapter-sha", "adapter", "task", "task-v1",
        """test=test-sha;template=;limit=64;max_new=96;batch=8;schema={"category":"string"}""");

    static SuiteResult Result() =>
        new SuiteResult("task", "task-v1", [new MetricValue("task/exact_match", 0.75, 4, 0.3, 0.95)],
            System.Text.Json.Nodes.JsonNode.Parse("""{"outputs": [{"line": 3, "prediction": "p"}]}"""))
        { Items = 4 };

    static async Task<IArtifactStore> Store(string root)
    {
        var store = new LocalArtifactStore(root);
        await store.EnsureBucketsAsync([Buckets.Evaluations]);
        return store;
    }

    public static TheoryData<BaselineCacheKey> Changed() =>
    [
        Key with { BaseModelSha256 = "other" },
        Key with { ModelSha256 = null, Kind = "base" },
        Key with { ModelSha256 = "another-adapter" },
        Key with { Inputs = Key.Inputs.Replace("test-sha", "other-test") },
        Key with { Suite = "rouge" },
        Key with { FormatVersion = "task-v2" },
        Key with { Inputs = Key.Inputs.Replace("max_new=96", "max_new=128") },
        Key with { Inputs = Key.Inputs.Replace("limit=64", "limit=32") },
        Key with { Inputs = Key.Inputs.Replace("batch=8", "batch=4") },
        Key with { Inputs = Key.Inputs.Replace("template=", "template=llama3") },
        Key with { Inputs = Key.Inputs[..Key.Inputs.IndexOf(";schema", StringComparison.Ordinal)] },
        Key with { Judge = "http://judge/v1 gpt" },
    ];

    [Theory]
    [MemberData(nameof(Changed))]
    public async Task Any_change_of_a_key_part_misses(BaselineCacheKey changed)
    {
        using var dir = new TempDir();
        var cache = new BaselineCache(await Store(Path.Combine(dir.Path, "store")));
        await cache.PutAsync(Key, "production", Result(), dir.Path, CancellationToken.None);
        Assert.NotEqual(Key.Hash(), changed.Hash());
        Assert.Null(await cache.TryGetAsync(changed, dir.Path, CancellationToken.None));
        Assert.NotNull(await cache.TryGetAsync(Key, dir.Path, CancellationToken.None));
    }

    [Fact]
    public async Task The_same_inputs_hit_with_metrics_and_details()
    {
        using var dir = new TempDir();
        var cache = new BaselineCache(await Store(Path.Combine(dir.Path, "store")));
        Assert.Null(await cache.TryGetAsync(Key, dir.Path, CancellationToken.None));
        await cache.PutAsync(Key, "production", Result(), dir.Path, CancellationToken.None);
        var equalKey = Key with { Inputs = new string(Key.Inputs.ToCharArray()) };
        var hit = await cache.TryGetAsync(equalKey, dir.Path, CancellationToken.None);
        Assert.NotNull(hit);
        var metric = Assert.Single(hit.Metrics);
        Assert.Equal(("task/exact_match", 0.75, 4L, 0.3, 0.95),
            (metric.Name, metric.Value, metric.Count, metric.Low!.Value, metric.High!.Value));
        Assert.Equal(4, hit.Items);
        Assert.Contains("\"prediction\":\"p\"", System.Text.Json.JsonSerializer.Serialize(hit.Details));
        // A failed suite is never cached.
        var failedKey = Key with { Suite = "mmlu", FormatVersion = "mmlu-harness-v1" };
        await cache.PutAsync(failedKey, "production", SuiteResult.Failed("mmlu", "mmlu-harness-v1", "no set"),
            dir.Path, CancellationToken.None);
        Assert.Null(await cache.TryGetAsync(failedKey, dir.Path, CancellationToken.None));
    }

    [Fact]
    public async Task A_damaged_entry_is_a_miss()
    {
        using var dir = new TempDir();
        var root = Path.Combine(dir.Path, "store");
        var cache = new BaselineCache(await Store(root));
        await cache.PutAsync(Key, "production", Result(), dir.Path, CancellationToken.None);
        var entry = Directory.GetFiles(Path.Combine(root, Buckets.Evaluations), $"{Key.Hash()}.json",
            SearchOption.AllDirectories).Single();
        await File.WriteAllTextAsync(entry, "{ not results");
        Assert.Null(await cache.TryGetAsync(Key, dir.Path, CancellationToken.None));
    }
}
