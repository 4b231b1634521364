// Issue 16: one rule for project, alias and adapter names. A drop whose prefix is no valid project name (a colon that
// would shadow a served alias, spaces, capitals) is quarantined as a failed run with the reason, and never stops the
// bucket watcher from starting the runs of every other project's drops.
using FineTune.Contracts;
using FineTune.Pipeline.Ingestion;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public class NameTests
{
    [Theory]
    [InlineData("support", true)]
    [InlineData("support-eu_2.v3", true)]
    [InlineData("support:candidate", false)]
    [InlineData(" ", false)]
    [InlineData("", false)]
    [InlineData("Support", false)]
    [InlineData("../x", false)]
    [InlineData(".hidden", false)]
    [InlineData("a/b", false)]
    public void One_rule_decides_every_name(string name, bool valid)
    {
        Assert.Equal(valid, ResourceNames.Problem(name) is null);
        Assert.Null(ResourceNames.Problem(new string('a', 64)));
        Assert.NotNull(ResourceNames.Problem(new string('a', 65)));
    }

    [Fact]
    public async Task A_drop_under_an_invalid_project_is_quarantined_and_the_scan_goes_on_for_the_others()
    {
        using var tmp = new TempDir();
        var host = PipelineFixture.FastHost();
        host["Pipeline:BaseModelDirectory"] = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"), host);
        var watcher = pipeline.Services.GetRequiredService<BucketWatcher>();
        var file = await PipelineFixture.TicketsAsync(tmp.Path, 40, 5);
        foreach (var key in new[] { "support:candidate/a.jsonl", "Bad Name/b.jsonl", "good/c.jsonl" })
            await pipeline.Store.PutFileAsync(Buckets.Ingestion, key, file);

        var started = await watcher.ScanAsync(CancellationToken.None);
        var again = await watcher.ScanAsync(CancellationToken.None);

        var run = await pipeline.Registry.ReadAsync(s => s.GetRunAsync(Assert.Single(started)));
        Assert.Equal("good", run!.Project);
        Assert.Empty(again);   // quarantined once, not retried on every scan
        var quarantined = await pipeline.Registry.ReadAsync(s => s.ListRunsAsync(BucketWatcher.QuarantineProject));
        Assert.Equal(2, quarantined.Count);
        Assert.All(quarantined, r => Assert.Equal(RunStatus.Failed, r.Status));
        Assert.Contains(quarantined, r => r.Error!.Contains("'support:candidate' is not a valid project name"));
    }

    [Fact]
    public async Task Submitting_under_an_invalid_project_is_refused()
    {
        using var tmp = new TempDir();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        var e = await Assert.ThrowsAsync<ArgumentException>(() =>
            pipeline.SubmitAsync(PipelineFixture.Malformed(tmp.Path), "support:candidate", null, null,
                CancellationToken.None));
        Assert.Contains("'support:candidate' is not a valid name", e.Message);
    }
}
