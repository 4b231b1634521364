// The commands a person clicks in the dashboard, executed as the dashboard does (ResourceCommandService, with the
// arguments its dialog asks for): drop the sample into a project, cancel that project's run, and the errors a
// mistyped project or run gets back.
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using FineTune.Contracts;
using FineTune.Registry;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.AppHost.Tests;

[Collection(AppHostCollection.Name)]
public sealed class AppHostCommandTests(AppHostFixture f)
{
    [SkippableFact]
    public async Task Drop_sample_starts_a_run_that_cancel_run_ends_and_bad_arguments_get_the_services_reason()
    {
        f.SkipWhenUnavailable();
        var commands = f.App.Services.GetRequiredService<ResourceCommandService>();
        var project = $"cmd-{Guid.NewGuid():N}"[..14];

        var drop = await commands.ExecuteCommandAsync("ingestion", PipelineCommands.DropSample,
            Inputs(("project", project), ("seed", "3")));
        Assert.True(drop.Success, drop.Message);
        Assert.NotNull(await f.Store.StatAsync(Buckets.Ingestion, $"{project}/sample-seed3.jsonl"));

        var run = await f.WaitForRunAsync(project, _ => true, TimeSpan.FromMinutes(2));
        var cancel = await commands.ExecuteCommandAsync("ingestion", PipelineCommands.CancelRun,
            Inputs(("run", run.RunId.ToString())));
        Assert.True(cancel.Success, cancel.Message);
        var ended = await f.WaitForRunAsync(project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(1));
        Assert.Equal(RunStatus.Cancelled, ended.Status);
        Assert.Null((await f.Registry.ReadAsync(s => s.ListModelVersionsAsync(project))).FirstOrDefault());

        var again = await commands.ExecuteCommandAsync("ingestion", PipelineCommands.CancelRun,
            Inputs(("run", run.RunId.ToString())));
        Assert.False(again.Success);
        Assert.Contains("is not running", again.Message);
        var bad = await commands.ExecuteCommandAsync("ingestion", PipelineCommands.DropSample,
            Inputs(("project", "Bad Name!"), ("seed", "1")));
        Assert.False(bad.Success);
        Assert.Contains("project", bad.Message);
    }

    static InteractionInputCollection Inputs(params (string Name, string Value)[] values) =>
        new(values.Select(v => new InteractionInput { Name = v.Name, InputType = InputType.Text, Value = v.Value })
            .ToList());
}
