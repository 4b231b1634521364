// Issue 17: the pipeline core no longer pre-trains a demo model. A drop that names no base model gets
// Pipeline:BaseModelDirectory, else the host's BaseModelFallback (the Ingestion service registers the tiny base model),
// else a clear refusal — and the fallback is asked once, however many runs need it.
using FineTune.Artifacts;
using FineTune.Contracts;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FineTune.Pipeline.Tests;

public class DefaultBaseModelTests
{
    static RunInputs Inputs(string root, string? directory, BaseModelFallback? fallback)
    {
        var store = new LocalArtifactStore(Path.Combine(root, "store"));
        store.EnsureBucketsAsync([Buckets.Models]).GetAwaiter().GetResult();
        return new(store, Options.Create(new PipelineOptions
        {
            WorkDirectory = Path.Combine(root, "work"),
            BaseModelDirectory = directory
        }),
            NullLogger<RunInputs>.Instance, fallback);
    }

    static string ModelDirectory(string root)
    {
        var dir = Directory.CreateDirectory(Path.Combine(root, "model")).FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"model_type":"llama"}""");
        return dir;
    }

    [Fact]
    public async Task Without_a_directory_or_a_fallback_the_refusal_says_what_to_set()
    {
        using var tmp = new TempDir();
        var e = await Assert.ThrowsAsync<InvalidPipelineSettingsException>(() => Inputs(tmp.Path, null,
            null).DefaultBaseModelAsync(default));
        Assert.Contains("Pipeline:BaseModelDirectory", e.Message);
    }

    [Fact]
    public async Task The_fallback_is_asked_once_and_its_model_published()
    {
        using var tmp = new TempDir();
        var dir = ModelDirectory(tmp.Path);
        int calls = 0;
        var inputs = Inputs(tmp.Path, null, _ =>
        {
            Interlocked.Increment(ref calls);
            return Task.FromResult(dir);
        });
        var refs = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => inputs.DefaultBaseModelAsync(default)));
        Assert.Equal(1, calls);
        Assert.Single(refs.Distinct());
        Assert.StartsWith("base/model-", refs[0].Key);
    }

    [Fact]
    public async Task A_configured_directory_wins_over_the_fallback()
    {
        using var tmp = new TempDir();
        var dir = ModelDirectory(tmp.Path);
        var inputs = Inputs(tmp.Path, dir, _ => throw new InvalidOperationException("the fallback must not be asked"));
        Assert.StartsWith("base/model-", (await inputs.DefaultBaseModelAsync(default)).Key);
    }
}
