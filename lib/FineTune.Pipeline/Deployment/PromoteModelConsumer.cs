// PromoteModel by hand: allowed only for a version whose evaluation passed the gate (promotion goes through the gate
// or not at all); anything else is refused with a warning and changes nothing.
using FineTune.Contracts;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Deployment;

public sealed class PromoteModelConsumer(RunLedger ledger, ILogger<PromoteModelConsumer> log) : IConsumer<PromoteModel>
{
    public async Task Consume(ConsumeContext<PromoteModel> context)
    {
        var (m, ct) = (context.Message, context.CancellationToken);
        if ((ResourceNames.Problem(m.Project) ?? ResourceNames.Problem(m.Alias)) is { } bad)
        {
            // A name no entry point accepts cannot be a real target; a served name built from it could shadow another.
            log.LogWarning("Promotion to {Project}/{Alias} refused: {Problem}", ResourceNames.Shown(m.Project),
                ResourceNames.Shown(m.Alias), bad);
            return;
        }
        await using var s = await ledger.Registry.BeginAsync(ct);
        if (!await s.TryMarkProcessedAsync(nameof(PromoteModelConsumer), context.MessageId ?? m.RunId, ct))
            return;
        var version = await s.GetModelVersionAsync(m.Project, m.ModelVersion, ct);
        var evaluation = await s.GetEvaluationAsync(m.Project, m.ModelVersion, ct);
        if (version is null || evaluation is not { Promote: true })
        {
            log.LogWarning("Promotion of {Project} v{Version} refused: {Reason}", m.Project, m.ModelVersion,
                version is null ? "no such version" : evaluation is null ? "it has not been evaluated"
                    : "its evaluation did not pass the gate");
            await s.CommitAsync(ct);
            return;
        }
        var previous = await s.SetAliasAsync(m.Project, m.Alias, m.ModelVersion, m.RunId,
            "promoted by hand (gate passed)", ct);
        await s.CommitAsync(ct);
        await context.PublishForRun(new ModelPromoted
        {
            RunId = m.RunId, Project = m.Project, Alias = m.Alias, ModelVersion = m.ModelVersion,
            PreviousVersion = previous,
            Model = version.Model, BaseModel = version.BaseModel, Kind = version.Kind,
        }, m.RunId, ct);
    }
}
