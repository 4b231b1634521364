// The pipeline under the real AppHost: every resource healthy (the fixture), a dataset put into the ingestion bucket
// through the S3 endpoint reaches a gate decision, the Deployment service's /v1 answers with the model, and stopping
// the training replica that holds the job (the dashboard's Stop, through the app model) leaves the other replica to
// resume it from its checkpoint, with exactly one model version.
using System.ClientModel;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using FineTune.Contracts;
using FineTune.Pipeline.Tests;
using FineTune.Registry;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;

namespace FineTune.AppHost.Tests;

[Collection(AppHostCollection.Name)]
public sealed class AppHostPipelineTests(AppHostFixture f)
{
    [SkippableFact]
    public async Task A_drop_reaches_a_decision_served_on_v1_after_its_training_replica_is_stopped_mid_run()
    {
        f.SkipWhenUnavailable();
        using var tmp = new TempDir();
        var project = $"e2e-{Guid.NewGuid():N}"[..16];
        var file = await PipelineFixture.TicketsAsync(tmp.Path, 160, 13);
        await f.Store.EnsureBucketsAsync([Buckets.Ingestion]);
        await f.Store.PutFileAsync(Buckets.Ingestion, $"{project}/{Path.GetFileName(file)}", file);

        var running = await f.WaitForRunAsync(project, r => r.Status == RunStatus.Running, TimeSpan.FromMinutes(3));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while ((await f.Registry.ReadAsync(s => s.ListCheckpointsAsync(running.RunId))).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no checkpoint was recorded");
            await Task.Delay(200);
        }
        var holder = (await f.Registry.ReadAsync(s => s.GetTrainingJobAsync(running.RunId)))!.WorkerId!;
        var stopped = await f.ReplicaOfWorkerAsync(holder);
        var stop = await f.App.Services.GetRequiredService<ResourceCommandService>()
            .ExecuteCommandAsync(stopped, KnownResourceCommands.StopCommand);
        Assert.True(stop.Success, stop.Message);

        var run = await f.WaitForRunAsync(project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(6));
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        Assert.Equal(running.RunId, run.RunId);
        Assert.NotNull(run.Decision);
        var (versions, job, events) = await f.Registry.ReadAsync(async s =>
            (await s.ListModelVersionsAsync(project), await s.GetTrainingJobAsync(run.RunId),
                await s.ListEventsAsync(run.RunId)));
        Assert.Single(versions);
        Assert.True(job!.Attempts >= 2, $"attempts {job.Attempts}");
        Assert.NotEqual(holder, job.WorkerId);
        Assert.Contains(events, e => e.Message.StartsWith("resumed from", StringComparison.Ordinal));

        // The Deployment service serves what the gate decided, through the AppHost's endpoint and serving key.
        var served = run.Decision == "promoted" ? project : $"{project}:candidate";
        var client = new ChatClient(served, new ApiKeyCredential(AppHostFixture.ServingKey),
            new OpenAIClientOptions { Endpoint = new Uri(f.Url("deployment"), "/v1") });
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        ChatCompletion reply;
        while (true)
        {
            try
            {
                reply = await client.CompleteChatAsync([new UserChatMessage("My order is late.")],
                    new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 });
                break;
            }
            catch (ClientResultException e) when (e.Status == 404 && DateTime.UtcNow < until)
            {
                await Task.Delay(500);
            }
        }
        Assert.True(reply.Usage.OutputTokenCount > 0);
    }
}
