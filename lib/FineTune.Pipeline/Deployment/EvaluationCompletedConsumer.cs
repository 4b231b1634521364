// Deployment's consumer: the gate's verdict moves the aliases. Promote: production → the new version (ModelPromoted,
// which the serving endpoint acts on); reject: the version stays the candidate (ModelRejected). Either way the run
// succeeded.
using FineTune.Contracts;
using FineTune.Pipeline.Runs;
using FineTune.Registry;
using MassTransit;

namespace FineTune.Pipeline.Deployment;

public sealed class EvaluationCompletedConsumer(RunLedger ledger, StageSteps steps) : IConsumer<EvaluationCompleted>
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
            object output = m.Promote
                ? new ModelPromoted
                {
                    RunId = m.RunId, Project = m.Project, Alias = "production", ModelVersion = m.ModelVersion,
                    PreviousVersion = m.BaselineVersion,
                    Model = version.Model, BaseModel = version.BaseModel, Kind = version.Kind,
                }
                : new ModelRejected
                {
                    RunId = m.RunId, Project = m.Project, ModelVersion = m.ModelVersion,
                    Reasons = m.Reasons
                };

            async Task Records(IRegistrySession s)
            {
                await s.SetAliasAsync(m.Project, "candidate", m.ModelVersion, m.RunId, "trained", ct);
                if (m.Promote)
                {
                    await s.SetAliasAsync(m.Project, "production", m.ModelVersion, m.RunId,
                        "promoted by the evaluation gate", ct);
                    await s.AddLineageAsync(m.RunId, m.Gate, Deployments.Ref(m.Project, "production", m.ModelVersion),
                        "deployed", ct);
                }
                await s.SetRunDecisionAsync(m.RunId, m.Promote ? "promoted" : "rejected", m.Reasons, m.ModelVersion,
                    ct);
                await s.SetRunStatusAsync(m.RunId, RunStatus.Succeeded, null, ct);
            }
            return new StageResult(output, Records, m.Promote
                ? $"model version {m.ModelVersion} promoted to production"
                : $"model version {m.ModelVersion} rejected by the gate; production unchanged");
        });
    }
}
