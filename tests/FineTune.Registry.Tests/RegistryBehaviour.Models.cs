// The registry behaviour suite, part 3: model versions (sequential, one per run, distinct under concurrency),
// evaluations, aliases and their deployment history.
using FineTune.Contracts;

namespace FineTune.Registry.Tests;

public abstract partial class RegistryBehaviour
{
    static readonly ArtifactRef BaseModel = new(Buckets.Models, "base/smollm2-135m/manifest.json", new string('b', 64),
        270_000_000);

    static Task<int> NewVersionAsync(RunRegistry registry, string project, Guid runId) =>
        registry.WriteAsync(s => s.CreateModelVersionAsync(project, runId,
            Ref($"training/{runId}/adapter/manifest.json", Buckets.Models),
            BaseModel, "lora"));

    [SkippableFact]
    public async Task Model_versions_count_up_per_project()
    {
        await using var fx = await CreateFixtureAsync();
        var (a1, a2, b1) = (await NewRunAsync(fx.Registry, "a"), await NewRunAsync(fx.Registry, "a"),
            await NewRunAsync(fx.Registry, "b"));

        Assert.Equal(1, await NewVersionAsync(fx.Registry, "a", a1));
        Assert.Equal(1, await NewVersionAsync(fx.Registry, "b", b1));
        Assert.Equal(2, await NewVersionAsync(fx.Registry, "a", a2));

        var version = (await fx.Registry.ReadAsync(s => s.GetModelVersionAsync("a", 2)))!;
        Assert.Equal(new ModelVersionRecord("a", 2, a2, Ref($"training/{a2}/adapter/manifest.json", Buckets.Models),
            BaseModel, "lora",
            RegistryFixture.Start), version);
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetModelVersionAsync("a", 3)));
        Assert.Equal([("a", 1), ("a", 2), ("b", 1)],
            (await fx.Registry.ReadAsync(s => s.ListModelVersionsAsync())).Select(v => (v.Project, v.Version)));
        Assert.Equal([1], (await fx.Registry.ReadAsync(s => s.ListModelVersionsAsync("b"))).Select(v => v.Version));
    }

    [SkippableFact]
    public async Task Registering_a_run_s_model_again_returns_its_first_version()
    {
        await using var fx = await CreateFixtureAsync();
        var (first, second) = (await NewRunAsync(fx.Registry), await NewRunAsync(fx.Registry));

        Assert.Equal(1, await NewVersionAsync(fx.Registry, "demo", first));
        Assert.Equal(1, await NewVersionAsync(fx.Registry, "demo", first));
        Assert.Equal(2, await NewVersionAsync(fx.Registry, "demo", second));
        Assert.Equal(1, await NewVersionAsync(fx.Registry, "demo", first));
        Assert.Equal(2, (await fx.Registry.ReadAsync(s => s.ListModelVersionsAsync("demo"))).Count);
    }

    [SkippableFact]
    public async Task Concurrent_registrations_for_one_project_get_distinct_versions()
    {
        await using var fx = await CreateFixtureAsync();
        var runs = new Guid[8];
        for (var i = 0; i < runs.Length; i++)
            runs[i] = await NewRunAsync(fx.Registry);

        var versions = await ConcurrentlyAsync(fx, runs.Length,
            (registry, i) => NewVersionAsync(registry, "demo", runs[i]));

        Assert.Equal(Enumerable.Range(1, runs.Length), versions.Order());
        var registered = await fx.Registry.ReadAsync(s => s.ListModelVersionsAsync("demo"));
        Assert.Equal(runs.Order(), registered.Select(v => v.RunId).Order());
    }

    [SkippableFact]
    public async Task An_evaluation_is_recorded_once_per_version()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);
        await NewVersionAsync(fx.Registry, "demo", runId);
        var evaluation = new EvaluationRecord("demo", 1, runId, null, true, ["no baseline: first version"],
            """{"rouge_l":0.41}""", "{}",
            Ref($"evaluation/{runId}/gate.json", Buckets.Evaluations), RegistryFixture.Start.AddMinutes(3));

        await fx.Registry.WriteAsync(s => s.RecordEvaluationAsync(evaluation));
        await fx.Registry.WriteAsync(s => s.RecordEvaluationAsync(evaluation with
        {
            Promote = false,
            Reasons = ["changed"]
        }));

        var stored = (await fx.Registry.ReadAsync(s => s.GetEvaluationAsync("demo", 1)))!;
        Assert.Equal((true, (int?)null, evaluation.Gate, evaluation.CreatedAt),
            (stored.Promote, stored.BaselineVersion, stored.Gate, stored.CreatedAt));
        Assert.Equal(evaluation.Reasons, stored.Reasons);
        Assert.Equal(evaluation.CandidateMetricsJson, stored.CandidateMetricsJson);
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetEvaluationAsync("demo", 2)));
    }

    [SkippableFact]
    public async Task Setting_an_alias_returns_the_previous_version_and_keeps_the_history()
    {
        await using var fx = await CreateFixtureAsync();
        var runs = new[] { await NewRunAsync(fx.Registry), await NewRunAsync(fx.Registry) };
        foreach (var run in runs)
            await NewVersionAsync(fx.Registry, "demo", run);
        var operatorId = Guid.NewGuid();

        Assert.Null(await fx.Registry.WriteAsync(s => s.SetAliasAsync("demo", "production", 1, runs[0], "promoted")));
        fx.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1,
            await fx.Registry.WriteAsync(s => s.SetAliasAsync("demo", "production", 2, runs[1], "promoted")));
        fx.Clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(2,
            await fx.Registry.WriteAsync(s => s.SetAliasAsync("demo", "production", 1, operatorId, "rollback")));
        Assert.Null(await fx.Registry.WriteAsync(s => s.SetAliasAsync("demo", "staging", 2, runs[1], "promoted")));

        Assert.Equal(1, await fx.Registry.ReadAsync(s => s.GetAliasAsync("demo", "production")));
        Assert.Null(await fx.Registry.ReadAsync(s => s.GetAliasAsync("demo", "canary")));
        var history = await fx.Registry.ReadAsync(s => s.ListDeploymentsAsync("demo", "production"));
        Assert.Equal([(1, (int?)2, "rollback", operatorId), (2, 1, "promoted", runs[1]),
            (1, null, "promoted", runs[0])],
            history.Select(d => (d.Version, d.PreviousVersion, d.Reason, d.RunId)));
        Assert.Equal(RegistryFixture.Start.AddMinutes(2), history[0].CreatedAt);
        var aliases = await fx.Registry.ReadAsync(s => s.ListAliasesAsync("demo"));
        Assert.Equal([new AliasRecord("demo", "production", 1, RegistryFixture.Start.AddMinutes(2)),
            new AliasRecord("demo", "staging", 2, RegistryFixture.Start.AddMinutes(2))], aliases);
    }

    [SkippableFact]
    public async Task An_alias_cannot_point_at_a_version_that_does_not_exist()
    {
        await using var fx = await CreateFixtureAsync();
        var runId = await NewRunAsync(fx.Registry);

        await Assert.ThrowsAnyAsync<Exception>(() => fx.Registry.WriteAsync(s => s.SetAliasAsync("demo", "production",
            7, runId, "promoted")));

        Assert.Empty(await fx.Registry.ReadAsync(s => s.ListDeploymentsAsync("demo", "production")));
    }
}
