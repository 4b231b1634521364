// The pipeline as five services over real RabbitMQ, PostgreSQL and S3 (the servers scripts/infra-start.sh starts):
// drop to decision with full lineage, rejects, retraining on a second drop, and a training service killed mid-run.
using System.ClientModel;
using FineTune.Contracts;
using FineTune.Pipeline;
using FineTune.Pipeline.Tests;
using FineTune.Registry;
using MassTransit;
using OpenAI;
using OpenAI.Chat;

namespace FineTune.Integration.Tests;

public sealed class DistributedPipelineTests
{
    static async Task<(TempDir Tmp, ServiceCluster Cluster)> StartAsync(int epochs, string? otlpEndpoint = null,
        IReadOnlyDictionary<string, string>? overrides = null, Func<PipelineSettings, PipelineSettings>? adjust = null)
    {
        var tmp = new TempDir();
        var settings = Path.Combine(tmp.Path, "settings.json");
        var fast = PipelineFixture.FastSettings(epochs);
        await File.WriteAllTextAsync(settings, (adjust?.Invoke(fast) ?? fast).ToJson());
        try
        {
            return (tmp, await ServiceCluster.StartAsync(tmp.Path, await PipelineFixture.BaseModelAsync(), settings,
                otlpEndpoint, overrides));
        }
        catch
        {
            tmp.Dispose();
            throw;
        }
    }

    static async Task<RunRecord> WaitForRunAsync(ServiceCluster cluster, string project, Func<RunRecord, bool> done,
        TimeSpan timeout, int index = 0)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var runs = (await cluster.Registry.ReadAsync(s => s.ListRunsAsync(project,
                10))).OrderBy(r => r.CreatedAt).ToList();
            if (runs.Count > index && done(runs[index]))
                return runs[index];
            if (DateTime.UtcNow > deadline)
            {
                // What the Ingestion service's scan sees, for a run that never started (services.log is in
                // TestResults).
                var objects = new List<string>();
                await foreach (var o in cluster.Store.ListAsync(Buckets.Ingestion, project + "/"))
                    objects.Add($"{o.Key} sha256={(await cluster.Store.StatAsync(o.Bucket, o.Key))?.Sha256 ?? "none"}");
                throw new TimeoutException($"project {project}: run {index} not done within {timeout}: " +
                    $"{string.Join(", ", runs.Select(r => $"{r.RunId} {r.Status} {r.Error}"))}; ingestion objects: " +
                    string.Join(", ", objects));
            }
            await Task.Delay(500);
        }
    }

    // Asks the Deployment service until the name is served (it loads a version when ModelPromoted arrives).
    static async Task<ChatCompletion> AskAsync(ServiceCluster cluster, string model, TimeSpan timeout)
    {
        var client = new ChatClient(model, new ApiKeyCredential(ServiceCluster.ServingKey),
            new OpenAIClientOptions { Endpoint = cluster.ServingEndpoint });
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return await client.CompleteChatAsync([new UserChatMessage("My order is late.")],
                    new ChatCompletionOptions { MaxOutputTokenCount = 8, Temperature = 0 });
            }
            catch (ClientResultException e) when (e.Status == 404 && DateTime.UtcNow < until)
            {
                await Task.Delay(500);
            }
        }
    }

    static Task Drop(ServiceCluster cluster, string project, string file) =>
        cluster.Store.PutFileAsync(Buckets.Ingestion, $"{project}/{Path.GetFileName(file)}", file);

    /// <summary>The forgetting guard: MMLU and GSM8K subsets from evaluation sets in the store, beside the task
    /// suites, with a rule on MMLU that never decides (this test is about where they run, not about the
    /// verdict).</summary>
    static PipelineSettings WithForgettingGuard(PipelineSettings s) => s with
    {
        Evaluation = s.Evaluation with
        {
            Suites = [.. s.Evaluation.Suites, "mmlu", "gsm8k"],
            Mmlu = new MmluSetSettings { Set = "mmlu", Shots = 0, Sample = 8 },
            Gsm8k = new Gsm8kSetSettings { Set = "gsm8k", Shots = 0, Limit = 2, MaxNewTokens = 8 },
        },
        Gate = [.. s.Gate, new("mmlu/acc", FineTune.Evals.Gate.GateRuleKind.NoRegression, 1.0)],
    };

    [SkippableFact]
    public async Task A_drop_is_promoted_or_rejected_with_complete_lineage_and_a_second_drop_retrains()
    {
        var (mmlu, gsm8k) = (SharedData.File("mmlu"), SharedData.File("gsm8k"));
        using var otlp = new OtlpTraceReceiver();
        var (tmp, cluster) = await StartAsync(epochs: 2, otlp.Endpoint, adjust: WithForgettingGuard);
        using var _ = tmp;
        await using var __ = cluster;
        var project = $"tickets-{Guid.NewGuid():N}"[..16];
        // The benchmark sets the settings name, added to the services' S3 store with the CLI.
        foreach (var (name, path) in new[] { ("mmlu", mmlu), ("gsm8k", gsm8k) })
        {
            var (addExit, addOut, addErr) = await cluster.CliAsync("evalsets", "add", name, path, "--kind", name);
            Assert.True(addExit == 0, addErr);
            Assert.StartsWith($"added {name} version 1", addOut);
        }

        await Drop(cluster, project, await PipelineFixture.TicketsAsync(tmp.Path, 160, 11));
        var run = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(6));

        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        Assert.Equal("drop", run.Trigger);
        Assert.Equal(1, run.ModelVersion);
        var (lineage, stages, evaluation) = await cluster.Registry.ReadAsync(async s =>
            (await s.ListLineageAsync(run.RunId), await s.ListStagesAsync(run.RunId),
                await s.GetEvaluationAsync(project, 1)));
        Assert.Equal(Stages.All, stages.Select(x => x.Stage).ToArray());
        var relations = lineage.Select(e => e.Relation).ToHashSet();
        foreach (var r in new[] { "cleaned", "tokenized", "trained", "evaluated", "gated" })
            Assert.Contains(r, relations);
        // The chain is connected: raw object → prepared → shards → model → results → gate.
        var raw = lineage.Single(e => e.Relation == "cleaned").From;
        Assert.Equal(Buckets.Ingestion, raw.Bucket);
        Assert.NotNull(evaluation);
        Assert.Equal(run.Decision == "promoted", evaluation!.Promote);
        // The Evaluation service scored the MMLU and GSM8K subsets for both models.
        foreach (var metrics in new[] { evaluation.CandidateMetricsJson, evaluation.BaselineMetricsJson })
        {
            Assert.Contains("\"mmlu/acc\":", metrics);
            Assert.Contains("\"gsm8k/exact_match,strict-match\":", metrics);
        }
        Assert.Contains(evaluation.Reasons, r => r.StartsWith("mmlu/acc: pass", StringComparison.Ordinal));

        // One trace follows the run through all five services (MassTransit propagation, and the training worker
        // continuing the trace it recorded with the job).
        var services = ServiceCluster.Services.Select(s => s.ToLowerInvariant()).ToHashSet();
        string? spanning = null;
        for (int i = 0; i < 40 && spanning is null; i++)
        {
            spanning = otlp.Spans.GroupBy(s => s.TraceId).FirstOrDefault(g => services.IsSubsetOf(g.Select(s =>
                s.Service)))?.Key;
            if (spanning is null)
                await Task.Delay(250);
        }
        Assert.True(spanning is not null, "no trace spans all five services; traces seen: " + string.Join("; ",
            otlp.Spans.GroupBy(s => s.TraceId).Select(g => string.Join(",", g.Select(s => s.Service).Distinct()))));

        // The Deployment service serves what the gate decided, to the official OpenAI client: production under the
        // project's name when promoted, the candidate alias otherwise.
        var served = run.Decision == "promoted" ? project : $"{project}:candidate";
        var reply = await AskAsync(cluster, served, TimeSpan.FromSeconds(60));
        Assert.True(reply.Usage.OutputTokenCount > 0);
        Assert.Contains(reply.FinishReason, new[] { ChatFinishReason.Length, ChatFinishReason.Stop });

        // RabbitMQ delivers every stage's input again (a lost acknowledgement), same message ids: nothing is redone.
        var before = await Counts(cluster, project, run.RunId);
        await RedeliverAsync(cluster, run.RunId);
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(before, await Counts(cluster, project, run.RunId));

        // New data for the same project starts a run on its own; this time dropped with the CLI.
        var (uploadExit, uploadOut, uploadErr) = await cluster.CliAsync("upload",
            await PipelineFixture.TicketsAsync(tmp.Path, 60, 12), "--project", project);
        Assert.True(uploadExit == 0, uploadErr);
        Assert.Contains($"uploaded ingestion/{project}/tickets-12.jsonl", uploadOut);
        var second = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status),
            TimeSpan.FromMinutes(6), index: 1);
        Assert.Equal("retrain", second.Trigger);
        Assert.True(second.Status == RunStatus.Succeeded, $"{second.Status}: {second.Error}");
        Assert.Equal(2, second.ModelVersion);
        // Its baseline (production, or the base model) was scored on MMLU and GSM8K by the first run: from the cache.
        var secondEvaluation = await cluster.Registry.ReadAsync(s => s.GetEvaluationAsync(project, 2));
        Assert.Contains(secondEvaluation!.Reasons, r => r.StartsWith("baseline: ", StringComparison.Ordinal)
            && r.Contains("mmlu, gsm8k from an earlier evaluation", StringComparison.Ordinal));
        if (second.Decision == "promoted") // production moved to version 2: the project's name now answers with it
        {
            var models = new OpenAIClient(new ApiKeyCredential(ServiceCluster.ServingKey),
                new OpenAIClientOptions { Endpoint = cluster.ServingEndpoint })
                .GetOpenAIModelClient();
            for (int i = 0; i < 60 && !(await models.GetModelsAsync()).Value.Any(m => m.Id == $"{project}:v2"); i++)
                await Task.Delay(500);
            Assert.Contains((await models.GetModelsAsync()).Value, m => m.Id == $"{project}:v2");
            Assert.True((await AskAsync(cluster, project, TimeSpan.FromSeconds(30))).Usage.OutputTokenCount > 0);
        }

        // The operator commands read the services' registry.
        var (runsExit, runsOut, runsErr) = await cluster.CliAsync("runs", "--project", project);
        Assert.True(runsExit == 0, runsErr);
        Assert.Contains(run.RunId.ToString(), runsOut);
        Assert.Contains(second.RunId.ToString(), runsOut);
        var (modelsExit, modelsOut, modelsErr) = await cluster.CliAsync("models", "--project", project);
        Assert.True(modelsExit == 0, modelsErr);
        Assert.Equal(2, modelsOut.Split('\n').Count(l => l.StartsWith(project, StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task A_service_whose_broker_is_unreachable_is_alive_but_not_healthy()
    {
        var (tmp, cluster) = await StartAsync(epochs: 1);
        using var _ = tmp;
        await using var __ = cluster;
        using var http = new HttpClient();

        await using var lonely = await cluster.StartDetachedAsync("Deployment",
            new Dictionary<string, string> { ["Messaging__RabbitMqUri"] = "amqp://guest:guest@127.0.0.1:1/" });
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        HttpResponseMessage? health = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await http.GetAsync($"{lonely.Url}/alive")).IsSuccessStatusCode)
                {
                    health = await http.GetAsync($"{lonely.Url}/health");
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(300);
        }
        Assert.NotNull(health);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, health!.StatusCode);
        // The cluster's own Deployment, with its broker, is healthy.
        Assert.True((await http.GetAsync($"http://127.0.0.1:{cluster.Port("Deployment")}/health")).IsSuccessStatusCode);
    }

    static Task<(int Versions, int Attempts, int Datasets, int Events)> Counts(ServiceCluster cluster, string project,
        Guid runId) =>
        cluster.Registry.ReadAsync(async s => ((await s.ListModelVersionsAsync(project)).Count,
            (await s.ListStagesAsync(runId)).Sum(x => x.Attempts),
            (await s.ListDatasetsAsync(project)).Count, (await s.ListEventsAsync(runId)).Count));

    static async Task RedeliverAsync(ServiceCluster cluster, Guid runId)
    {
        var outputs = await cluster.Registry.ReadAsync(s => StageOutput.ReadAllAsync(s, runId));
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(cluster.RabbitMq));
        await bus.StartAsync();
        try
        {
            await bus.PublishForRun(outputs[Stages.Ingestion].As<DatasetCleaned>(), runId, default);
            await bus.PublishForRun(outputs[Stages.Tokenization].As<DatasetTokenized>(), runId, default);
            await bus.PublishForRun(outputs[Stages.Training].As<ModelTrained>(), runId, default);
            await bus.PublishForRun(outputs[Stages.Evaluation].As<EvaluationCompleted>(), runId, default);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [SkippableFact]
    public async Task A_bucket_notification_starts_the_run_without_waiting_for_the_scan()
    {
        var (tmp, cluster) = await StartAsync(epochs: 1, overrides: new Dictionary<string, string>
        {
            // after the start-up scan, only a notification brings the next one
            ["Pipeline__IngestionScanSeconds"] = "3600",
            ["Pipeline__BucketNotificationsExchange"] = "minio-events",
        });
        using var _ = tmp;
        await using var __ = cluster;
        var project = $"notify-{Guid.NewGuid():N}"[..16];
        await Task.Delay(TimeSpan.FromSeconds(2));   // the start-up scan has run

        await Drop(cluster, project, await PipelineFixture.TicketsAsync(tmp.Path, 80, 15));
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Empty(await cluster.Registry.ReadAsync(s => s.ListRunsAsync(project)));
        // What MinIO sends for a PUT (an S3 event record; only EventName and Key are read).
        await cluster.PublishRawAsync("minio-events",
            $$"""{"EventName":"s3:ObjectCreated:Put","Key":"ingestion/{{project}}/tickets-15.jsonl","Records":[{"eventVersion":"2.0","eventSource":"minio:s3"}]}""");

        var run = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(4));
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
    }

    [SkippableFact]
    public async Task A_malformed_drop_fails_with_rejects_in_the_datasets_bucket_and_no_training()
    {
        var (tmp, cluster) = await StartAsync(epochs: 1);
        using var _ = tmp;
        await using var __ = cluster;
        var project = $"broken-{Guid.NewGuid():N}"[..16];

        await Drop(cluster, project, PipelineFixture.Malformed(tmp.Path));
        var run = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(2));

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("rejected", run.Error);
        Assert.NotNull(await cluster.Store.StatAsync(Buckets.Datasets, $"{project}/{run.RunId:N}/rejects.jsonl"));
        Assert.Null(await cluster.Registry.ReadAsync(s => s.GetTrainingJobAsync(run.RunId)));
    }

    [SkippableFact]
    public async Task A_broker_restart_during_a_run_does_not_stop_it_from_completing()
    {
        var (tmp, cluster) = await StartAsync(epochs: 3);
        using var _ = tmp;
        await using var __ = cluster;
        var project = $"broker-{Guid.NewGuid():N}"[..16];

        await Drop(cluster, project, await PipelineFixture.TicketsAsync(tmp.Path, 120, 14));
        var running = await WaitForRunAsync(cluster, project, r => r.Status == RunStatus.Running,
            TimeSpan.FromMinutes(3));
        await ServiceCluster.RestartBrokerAsync(TimeSpan.FromSeconds(3));

        var run = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(6));
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        Assert.Equal(running.RunId, run.RunId);
        Assert.Single(await cluster.Registry.ReadAsync(s => s.ListModelVersionsAsync(project)));
    }

    [SkippableFact]
    public async Task A_training_service_killed_mid_run_resumes_from_its_last_checkpoint_with_one_model_version()
    {
        var (tmp, cluster) = await StartAsync(epochs: 4);
        using var _ = tmp;
        await using var __ = cluster;
        var project = $"crash-{Guid.NewGuid():N}"[..16];

        await Drop(cluster, project, await PipelineFixture.TicketsAsync(tmp.Path, 160, 13));
        var running = await WaitForRunAsync(cluster, project, r => r.Status == RunStatus.Running,
            TimeSpan.FromMinutes(3));
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while ((await cluster.Registry.ReadAsync(s => s.ListCheckpointsAsync(running.RunId))).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no checkpoint was recorded");
            await Task.Delay(200);
        }
        cluster.Kill("Training");
        cluster.Start("Training");

        var run = await WaitForRunAsync(cluster, project, r => RunStatus.IsTerminal(r.Status), TimeSpan.FromMinutes(6));
        Assert.True(run.Status == RunStatus.Succeeded, $"{run.Status}: {run.Error}");
        var (versions, job, events) = await cluster.Registry.ReadAsync(async s =>
            (await s.ListModelVersionsAsync(project), await s.GetTrainingJobAsync(run.RunId),
                await s.ListEventsAsync(run.RunId)));
        Assert.Single(versions);
        Assert.True(job!.Attempts >= 2, $"attempts {job.Attempts}");
        Assert.Contains(events, e => e.Message.StartsWith("resumed from", StringComparison.Ordinal));
    }
}
