// RollBackDeployment: the alias goes back to the version it had before the current one (the deployment history says
// which); ModelRolledBack tells serving to load it. Nothing to roll back to is a warning on the operation, not a retry.
using FineTune.Contracts;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Deployment;

public sealed class RollBackDeploymentConsumer(RunLedger ledger,
    ILogger<RollBackDeploymentConsumer> log) : IConsumer<RollBackDeployment>
{
    public async Task Consume(ConsumeContext<RollBackDeployment> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        await using var s = await ledger.Registry.BeginAsync(ct);
        if (!await s.TryMarkProcessedAsync(nameof(RollBackDeploymentConsumer), context.MessageId ?? m.RunId, ct))
            return;
        var history = await s.ListDeploymentsAsync(m.Project, m.Alias, ct);
        if (history.Count == 0 || history[0].PreviousVersion is not { } previous)
        {
            log.LogWarning("Rollback of {Project}/{Alias}: no earlier version to go back to", m.Project, m.Alias);
            await s.CommitAsync(ct);
            return;
        }
        var target = await s.GetModelVersionAsync(m.Project, previous, ct)
            ?? throw new InvalidOperationException($"{m.Project} version {previous} is in the deployment history " +
                $"but not registered.");
        await s.SetAliasAsync(m.Project, m.Alias, previous, m.RunId,
            "rollback" + (m.Reason is null ? "" : $": {m.Reason}"), ct);
        await s.CommitAsync(ct);
        await context.PublishForRun(new ModelRolledBack
        {
            RunId = m.RunId, Project = m.Project, Alias = m.Alias, FromVersion = history[0].Version,
            ToVersion = previous,
            Model = target.Model, BaseModel = target.BaseModel, Kind = target.Kind,
        }, m.RunId, ct);
    }
}
