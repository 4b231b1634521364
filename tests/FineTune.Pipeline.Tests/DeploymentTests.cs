// The model registry's aliases through Deployment's consumers alone: promotion by the gate's verdict, manual promotion
// only of a version that passed, rollback to the previous version — each with the event serving acts on.
using System.Collections.Concurrent;
using FineTune.Contracts;
using FineTune.Pipeline.Deployment;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Pipeline.Tests;

public sealed class DeploymentTests
{
    static ArtifactRef Ref(string key) => new(Buckets.Models, key, new string('a', 64), 1);

    static EvaluationCompleted Verdict(Guid runId, int version, bool promote) => new()
    {
        RunId = runId, Project = "p", ModelVersion = version, CandidateResults = Ref("c"), BaselineResults = Ref("b"),
        Gate = Ref($"gate{version}"),
        Promote = promote, Reasons = [promote ? "task: pass" : "task: fail"],
        CandidateMetrics = new Dictionary<string, double> { ["m"] = 1 },
        BaselineMetrics = new Dictionary<string, double> { ["m"] = 0 },
    };

    [Fact]
    public async Task The_gate_moves_production_a_rollback_moves_it_back_a_failed_version_cannot_be_promoted_by_hand()
    {
        using var tmp = new TempDir();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost(),
            p => p.AddDeploymentStage());
        var bus = pipeline.Services.GetRequiredService<IBus>();
        var seen = new ConcurrentQueue<object>();
        bus.ConnectReceiveEndpoint("observer", e =>
        {
            e.Handler<ModelPromoted>(c =>
            {
                seen.Enqueue(c.Message);
                return Task.CompletedTask;
            });
            e.Handler<ModelRolledBack>(c =>
            {
                seen.Enqueue(c.Message);
                return Task.CompletedTask;
            });
        });

        var runs = new Guid[3];
        for (int v = 1; v <= 3; v++)
        {
            var run = runs[v - 1] = Guid.NewGuid();
            bool passed = v != 3;   // v3's evaluation failed the gate
            await pipeline.Registry.WriteAsync(async s =>
            {
                await s.ClaimRawObjectAsync("p",
                    new ArtifactRef(Buckets.Ingestion, $"p/f{run:N}", new string('b', 64), 1), "e", run, "drop");
                var version = await s.CreateModelVersionAsync("p", run, Ref($"m{run:N}"), Ref("base"), "adapter");
                Assert.Equal(v, version);
                await s.RecordEvaluationAsync(new("p", version, run, null, passed, [], "{}", "{}", Ref("g"),
                    DateTimeOffset.UtcNow));
            });
        }

        await bus.PublishForRun(Verdict(runs[0], 1, promote: true), runs[0], default);
        await Until(pipeline, async () => await Alias(pipeline) == 1);
        await bus.PublishForRun(Verdict(runs[1], 2, promote: true), runs[1], default);
        await Until(pipeline, async () => await Alias(pipeline) == 2);

        await bus.Publish(new RollBackDeployment { RunId = Guid.NewGuid(), Project = "p" });
        await Until(pipeline, async () => await Alias(pipeline) == 1);

        await bus.Publish(new PromoteModel { RunId = Guid.NewGuid(), Project = "p", ModelVersion = 3 });
        await bus.Publish(new PromoteModel { RunId = Guid.NewGuid(), Project = "p", ModelVersion = 2 });
        await Until(pipeline, async () => await Alias(pipeline) == 2);

        var history = await pipeline.Registry.ReadAsync(s => s.ListDeploymentsAsync("p", "production"));
        Assert.Equal([2, 1, 2, 1], history.Select(h => h.Version).ToArray());   // v3 never: its evaluation failed
        await Until(pipeline, () => Task.FromResult(seen.Count >= 4));
        Assert.Contains(seen, m => m is ModelRolledBack { FromVersion: 2, ToVersion: 1 });
        Assert.Equal(3, seen.OfType<ModelPromoted>().Count());
        var first = await pipeline.Registry.ReadAsync(s => s.GetRunAsync(runs[0]));
        Assert.Equal("promoted", first!.Decision);
    }

    static Task<int?> Alias(LocalPipeline pipeline) =>
        pipeline.Registry.ReadAsync(s => s.GetAliasAsync("p", "production"));

    static async Task Until(LocalPipeline pipeline, Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 20 s");
            await Task.Delay(100);
        }
    }
}
