// Issue 26: what decides whether a run can work is checked before any stage spends time. tokenize.max_length defaults
// to the base model's context and may not exceed it; a failure that would repeat fails its stage at once; examples that
// do not fit are truncated by the policy and counted. Real GSM8K questions through the whole pipeline.
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Data;
using FineTune.Models;
using FineTune.Pipeline.Runs;
using FineTune.Registry;
using FineTune.Training;

namespace FineTune.Pipeline.Tests;

public class LengthLimitTests
{
    static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);

    [Fact]
    public void A_max_length_beyond_the_models_context_is_refused_naming_both_numbers()
    {
        var settings = PipelineSettings.Parse("""{ "tokenize": { "max_length": 512 } }""", "pipeline.json");
        var e = Assert.Throws<InvalidPipelineSettingsException>(() => settings.MaxLengthFor(256, "pipeline.json"));
        Assert.Contains("pipeline.json: 'tokenize.max_length' is 512, longer than the base model's context of 256",
            e.Message);
        Assert.Equal(256, new PipelineSettings().MaxLengthFor(256));   // unset: the model's context
        Assert.Equal(128, PipelineSettings.Parse("""{ "tokenize": { "max_length": 128 } }""", "p").MaxLengthFor(256));
    }

    [Fact]
    public async Task Settings_that_cannot_fit_the_base_model_fail_ingestion_at_once_before_the_data_is_prepared()
    {
        using var tmp = new TempDir();
        var baseModel = await PipelineFixture.BaseModelAsync();
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var settings = PipelineFixture.FastSettings() with
        {
            Tokenize = new TokenizeSettings
            {
                MaxLength = 1024,
                ChatTemplate = "chatml"
            }
        };

        var run = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 40,
            3), "long", baseModel, settings,
            timeout.Token), null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.StartsWith("ingestion: ", run.Error);
        Assert.Contains("'tokenize.max_length' is 1024, longer than the base model's context of 256", run.Error);
        var ingestion = (await pipeline.Registry.ReadAsync(s => s.ListStagesAsync(run.RunId))).Single();
        Assert.Equal((StageStatus.Failed, 1), (ingestion.Status, ingestion.Attempts));
        Assert.Empty(await pipeline.Registry.ReadAsync(s => s.ListDatasetsAsync("long")));
    }

    [Fact]
    public async Task A_broken_base_model_fails_its_run_after_one_attempt_with_the_reason()
    {
        using var tmp = new TempDir();
        var broken = Path.Combine(tmp.Path, "broken-base");
        Directory.CreateDirectory(broken);
        foreach (var file in Directory.EnumerateFiles(await PipelineFixture.BaseModelAsync()))
            File.Copy(file, Path.Combine(broken, Path.GetFileName(file)));
        var configPath = Path.Combine(broken, "config.json");
        File.WriteAllText(configPath,
            File.ReadAllText(configPath).Replace("\"llama\"", "\"gpt2\"", StringComparison.Ordinal));
        // Retries that would wait long: a failure that repeats must not use them.
        var host = PipelineFixture.FastHost();
        host["Pipeline:RetryIntervalsSeconds:0"] = "30";
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"), host);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(25));

        var run = await pipeline.WaitAsync(await pipeline.SubmitAsync(await PipelineFixture.TicketsAsync(tmp.Path, 40,
            4), "broken", broken,
            PipelineFixture.FastSettings(), timeout.Token), null, Poll, timeout.Token);

        Assert.Equal(RunStatus.Failed, run.Status);
        Assert.Contains("model_type 'gpt2' is not supported", run.Error);
        Assert.Equal(1, (await pipeline.Registry.ReadAsync(s => s.ListStagesAsync(run.RunId))).Single().Attempts);
    }

    [Theory]
    [InlineData(typeof(ArgumentException), true)]
    [InlineData(typeof(ArgumentOutOfRangeException), true)]
    [InlineData(typeof(InvalidDataException), true)]
    [InlineData(typeof(FormatException), true)]
    [InlineData(typeof(InvalidOperationException), true)]
    [InlineData(typeof(NullReferenceException), true)]
    [InlineData(typeof(IOException), false)]
    [InlineData(typeof(TimeoutException), false)]
    [InlineData(typeof(HttpRequestException), false)]
    [InlineData(typeof(ObjectDisposedException), false)]
    [InlineData(typeof(OperationCanceledException), false)]
    [InlineData(typeof(OutOfMemoryException), false)]
    public void Failures_that_would_repeat_are_permanent_and_outages_are_not(Type type, bool permanent)
    {
        var e = type == typeof(ObjectDisposedException) ? new ObjectDisposedException("host")
            : (Exception)Activator.CreateInstance(type, "x")!;
        Assert.Equal(permanent, StageErrors.IsPermanent(e));
        Assert.True(StageErrors.IsPermanent(new InvalidDatasetException("bad")));
        Assert.True(StageErrors.IsPermanent(new ModelFormatException("bad")));
        Assert.True(StageErrors.IsPermanent(new TrainingConfigException("bad")));
        Assert.False(StageErrors.IsPermanent(new AggregateException(new IOException("disk"),
            new ArgumentException("x"))));
    }

    [SkippableFact]
    public async Task Gsm8k_questions_run_to_a_decision_with_long_examples_truncated_to_the_models_context_and_counted()
    {
        var gsm8k = SharedData.File("gsm8k/train.jsonl");
        using var tmp = new TempDir();
        var data = Path.Combine(tmp.Path, "gsm8k-head.jsonl");
        File.WriteAllLines(data, File.ReadLines(gsm8k).Take(150));
        var baseModel = await PipelineFixture.BaseModelAsync();
        Assert.Equal(256, LlamaConfig.Load(Path.Combine(baseModel, "config.json")).MaxPositionEmbeddings);
        await using var pipeline = await LocalPipeline.StartAsync(Path.Combine(tmp.Path, "home"),
            PipelineFixture.FastHost());
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        // No tokenize.max_length: the model's context. GSM8K's worked answers make many examples longer than 256
        // tokens.
        var settings = PipelineFixture.FastSettings(epochs: 1) with
        {
            Tokenize = new TokenizeSettings
            {
                ChatTemplate = "chatml"
            }
        };

        var runId = await pipeline.SubmitAsync(data, "gsm8k", baseModel, settings, timeout.Token);
        var run = await pipeline.WaitAsync(runId, null, Poll, timeout.Token);

        Assert.True(run.Status == RunStatus.Succeeded, run.Error);
        Assert.Contains(run.Decision, new[] { "promoted", "rejected" });
        var stages = await pipeline.Registry.ReadAsync(s => s.ListStagesAsync(runId));
        Assert.All(stages, s => Assert.Equal(1, s.Attempts));
        var report = await RunReport.WriteAsync(pipeline.Registry, pipeline.Store, runId,
            Path.Combine(tmp.Path, "out"), timeout.Token);
        var card = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(tmp.Path, "out",
            "data_card.json")))!;
        Assert.Equal(256, card["tokenization"]!["max_length"]!.GetValue<int>());
        var train = card["tokenization"]!["splits"]!["train"]!;
        Assert.True(train["truncated"]!.GetValue<long>() > 0, card["tokenization"]!.ToJsonString());
        Assert.True(train["examples"]!.GetValue<long>() > 50);
        Assert.NotNull(report.Decision);
    }
}
