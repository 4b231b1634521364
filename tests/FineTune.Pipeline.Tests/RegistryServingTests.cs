// Serving behind the registry: the production alias of a project is served under the project's name, a promotion
// (ModelPromoted) or rollback (ModelRolledBack) swaps what answers under it, adapter versions share their base's
// weights, and superseded versions are dropped.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Models.Generation;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Serving;
using FineTune.Serving.Engine;
using FineTune.Serving.Tests;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class RegistryServingTests
{
    static async Task<string> GenerateAsync(ServedModel model)
    {
        var job = new GenerationJob([1, 5, 9, 13], new GenerationOptions { MaxNewTokens = 12 }, model.Adapter,
            CancellationToken.None);
        Assert.True(model.Base.Scheduler.TryEnqueue(job));
        var tokens = new List<int>();
        await foreach (var e in job.Events.ReadAllAsync())
            if (e.End is null)
                tokens.Add(e.Token);
        return string.Join(",", tokens);
    }

    static async Task<ServedModel> WaitForAsync(ModelCatalog catalog, string name, string version)
    {
        for (int i = 0; i < 200; i++)
        {
            if (catalog.TryResolve(name, out var model) && model.Version == version)
                return model;
            await Task.Delay(50);
        }
        throw new TimeoutException($"'{name}' never served {version}; served: " +
            $"{string.Join(", ", catalog.All.Select(m => $"{m.Id}={m.Version}"))}");
    }

    [Fact]
    public async Task Promotion_and_rollback_swap_what_the_project_name_serves()
    {
        using var tmp = new TempDir();
        using var model = new TestModel();
        var host = PipelineFixture.FastHost();
        host["Serving:RegistryPollSeconds"] = "3600"; // only the events move it
        host["Serving:Threads"] = "2";
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"), host,
            p => p.AddDeploymentStage().AddRegistryServing());
        var catalog = pipeline.Services.GetRequiredService<ModelCatalog>();
        var bus = pipeline.Services.GetRequiredService<IBus>();

        var baseRef = await pipeline.Inputs.PublishModelAsync(model.ModelDirectory, CancellationToken.None);
        var v1Ref = await ArtifactBundle.PutDirectoryAsync(pipeline.Store, Buckets.Models, "p/v1/adapter",
            model.AdapterDirectory);
        var v2Ref = await ArtifactBundle.PutDirectoryAsync(pipeline.Store, Buckets.Models, "p/v2/adapter",
            model.OtherAdapterDirectory);
        int v1 = 0, v2 = 0;
        var run = Guid.NewGuid();
        await pipeline.Registry.WriteAsync(async s =>
        {
            var (r1, r2) = (Guid.NewGuid(), Guid.NewGuid()); // a version belongs to a run, and a run to its drop
            await s.ClaimRawObjectAsync("p", new ArtifactRef(Buckets.Ingestion, "p/a.jsonl", new string('b', 64), 1),
                "e1", r1, "drop");
            await s.ClaimRawObjectAsync("p", new ArtifactRef(Buckets.Ingestion, "p/b.jsonl", new string('c', 64), 1),
                "e2", r2, "drop");
            v1 = await s.CreateModelVersionAsync("p", r1, v1Ref, baseRef, "adapter");
            v2 = await s.CreateModelVersionAsync("p", r2, v2Ref, baseRef, "adapter");
            await s.SetAliasAsync("p", "production", v1, run, "test");
            await s.SetAliasAsync("p", "candidate", v2, run, "test");
        });
        ModelPromoted Promoted(int version) => new()
        {
            RunId = Guid.NewGuid(), Project = "p", Alias = "production", ModelVersion = version,
            Model = version == v1 ? v1Ref : v2Ref,
            BaseModel = baseRef, Kind = "adapter",
        };

        await bus.Publish(Promoted(v1));
        var production = await WaitForAsync(catalog, "p", $"p@v{v1}");
        var candidate = await WaitForAsync(catalog, "p:candidate", $"p@v{v2}");
        Assert.Same(production.Base, candidate.Base);            // two adapter versions, one copy of the base
        var first = await GenerateAsync(production);
        Assert.NotEqual(first, await GenerateAsync(candidate));

        await pipeline.Registry.WriteAsync(s => s.SetAliasAsync("p", "production", v2, run, "promoted by hand"));
        await bus.Publish(Promoted(v2));
        var promoted = await WaitForAsync(catalog, "p", $"p@v{v2}");
        Assert.Equal(await GenerateAsync(candidate), await GenerateAsync(promoted));
        Assert.False(catalog.TryResolve($"p:v{v1}", out _)); // no alias points at v1 any more

        await pipeline.Registry.WriteAsync(s => s.SetAliasAsync("p", "production", v1, run, "rollback"));
        await bus.Publish(new ModelRolledBack
        {
            RunId = Guid.NewGuid(), Project = "p", Alias = "production",
            FromVersion = v2, ToVersion = v1, Model = v1Ref, BaseModel = baseRef, Kind = "adapter"
        });
        var back = await WaitForAsync(catalog, "p", $"p@v{v1}");
        Assert.Equal(first, await GenerateAsync(back));
    }
}
