// Deployment's consumer: the gate's verdict moves the aliases. Promote: production → the new version (ModelPromoted,
// which the serving endpoint acts on) — or, when the settings' release policy is canary or shadow and production
// exists, the version is served under that alias beside production and a release is recorded, which the analysis of
// live traffic (ReleaseAnalysis) later promotes or rolls back; reject: the version stays the candidate
// (ModelRejected). Either way the run succeeded.
using System.Text.Json;
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using FineTune.Registry;
using MassTransit;

namespace FineTune.Pipeline.Deployment;

public sealed class EvaluationCompletedConsumer(RunLedger ledger, RunInputs inputs, StageSteps steps)
    : IConsumer<EvaluationCompleted>
{
    public Task Consume(ConsumeContext<EvaluationCompleted> context)
    {
        var m = context.Message;
        return steps.RunAsync(context, m.RunId, Stages.Deployment, null, nameof(EvaluationCompletedConsumer),
            async ct =>
        {
            var version = await ledger.Registry.ReadAsync(s => s.GetModelVersionAsync(m.Project, m.ModelVersion, ct),
                ct)
                ?? throw new InvalidOperationException($"run {m.RunId}: model version {m.ModelVersion} of " +
                    $"'{m.Project}' is not registered.");
            var release = m.Settings is { } settings ? (await inputs.SettingsAsync(settings, ct)).Release : null;
            var production = await ledger.Registry.ReadAsync(s => s.GetAliasAsync(m.Project, "production", ct), ct);
            // a release needs a production model to compare with; the first version goes straight to production
            string? staged = m.Promote && release is { Policy: not ReleasePolicy.Direct } && production is not null
                ? release.Policy == ReleasePolicy.Canary ? "canary" : "shadow" : null;
            object output = m.Promote
                ? new ModelPromoted
                {
                    RunId = m.RunId, Project = m.Project, Alias = staged ?? "production", ModelVersion = m.ModelVersion,
                    PreviousVersion = staged is null ? m.BaselineVersion : null,
                    Model = version.Model, BaseModel = version.BaseModel, Kind = version.Kind,
                }
                : new ModelRejected
                {
                    RunId = m.RunId, Project = m.Project, ModelVersion = m.ModelVersion,
                    Reasons = m.Reasons
                };

            async Task ConfiguredAsync(IRegistrySession s, string alias)
            {
                if (m.Settings is { } used)
                    await s.AddLineageAsync(m.RunId, used, Deployments.Ref(m.Project, alias, m.ModelVersion),
                        Deployments.Configured, ct);
            }

            async Task Records(IRegistrySession s)
            {
                await s.SetAliasAsync(m.Project, "candidate", m.ModelVersion, m.RunId, "trained", ct);
                if (staged is not null)
                {
                    await s.SetAliasAsync(m.Project, staged, m.ModelVersion, m.RunId,
                        $"passed the evaluation gate; {staged} release beside production v{production}", ct);
                    await s.StartReleaseAsync(new ReleaseRecord(m.Project, m.ModelVersion, production!.Value, m.RunId,
                        staged, JsonSerializer.Serialize(release, PipelineSettings.Json), "running",
                        DateTimeOffset.UtcNow), ct);
                    await s.AddLineageAsync(m.RunId, m.Gate, Deployments.Ref(m.Project, staged, m.ModelVersion),
                        "deployed", ct);
                    await ConfiguredAsync(s, staged);
                }
                else if (m.Promote)
                {
                    await s.SetAliasAsync(m.Project, "production", m.ModelVersion, m.RunId,
                        "promoted by the evaluation gate", ct);
                    await s.AddLineageAsync(m.RunId, m.Gate, Deployments.Ref(m.Project, "production", m.ModelVersion),
                        "deployed", ct);
                    await ConfiguredAsync(s, "production");
                }
                await s.SetRunDecisionAsync(m.RunId, staged ?? (m.Promote ? "promoted" : "rejected"), m.Reasons,
                    m.ModelVersion, ct);
                await s.SetRunStatusAsync(m.RunId, RunStatus.Succeeded, null, ct);
            }
            return new StageResult(output, Records, staged is not null
                ? $"model version {m.ModelVersion} passed the gate; served as {staged} beside production " +
                    $"v{production} until live traffic decides"
                : m.Promote
                ? $"model version {m.ModelVersion} promoted to production"
                : $"model version {m.ModelVersion} rejected by the gate; production unchanged");
        });
    }
}
