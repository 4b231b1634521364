// The Deployment service's shape in one process for tests: the deployment stage, serving behind the registry and the
// OpenAI endpoint (with /v1/feedback) on a loopback port, over a local home (SQLite registry, local artifacts).
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using FineTune.Artifacts;
using FineTune.Contracts;
using FineTune.Pipeline.Deployment;
using FineTune.Pipeline.Ingestion;
using FineTune.Pipeline.Serving;
using FineTune.Registry;
using FineTune.Serving;
using FineTune.Serving.Engine;
using FineTune.Serving.Releases;
using FineTune.Serving.Tests;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FineTune.Pipeline.Tests;

/// <summary>The Deployment service's shape in one process: the deployment stage, serving behind the registry, the
/// OpenAI endpoint on a loopback port; versions 1 and 2 are adapters of the test model, 3 a full model whose
/// context (10 positions) is too short for the test's prompts, so everything it is asked fails.</summary>
public sealed class DeploymentHost : IAsyncDisposable
{
    public const string Key = "sk-release-test";

    readonly WebApplication _app;
    readonly TempDir _tmp;
    readonly TestModel _model = new();
    public HttpClient Http { get; }
    /// <summary>The local pipeline home (registry.db, artifacts/): what `finetune … --home` reads.</summary>
    public string Home { get; }
    public IServiceProvider Services => _app.Services;
    /// <summary>What the host logged at warning level and above (for failure messages).</summary>
    public WarningLog Logs { get; private init; } = new();
    public RunRegistry Registry => _app.Services.GetRequiredService<RunRegistry>();
    public ReleaseMonitor Monitor => _app.Services.GetRequiredService<ReleaseMonitor>();
    public ReleaseRouter Router => _app.Services.GetRequiredService<ReleaseRouter>();
    public ModelCatalog Catalog => _app.Services.GetRequiredService<ModelCatalog>();
    public Guid[] Runs { get; } = [Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid()];
    (ArtifactRef Model, ArtifactRef Base, string Kind)[] _versions = [];

    DeploymentHost(WebApplication app, TempDir tmp, string home)
    {
        _app = app;
        _tmp = tmp;
        Home = home;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/") };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    /// <param name="ingestion">Also the Ingestion stage (its bucket watcher scans when a test calls it).</param>
    public static async Task<DeploymentHost> StartAsync(Dictionary<string, string?>? extra = null,
        bool ingestion = false)
    {
        var tmp = new TempDir();
        var home = Path.Combine(tmp.Path, "home");
        var builder = WebApplication.CreateBuilder();
        var settings = PipelineFixture.FastHost();
        foreach (var (k, v) in new Dictionary<string, string?>
        {
            ["Pipeline:WorkDirectory"] = Path.Combine(home, "work"),
            ["Pipeline:WatchIngestionBucket"] = "false",
            ["Artifacts:LocalDirectory"] = Path.Combine(home, "artifacts"),
            ["Registry:Provider"] = "sqlite",
            ["Registry:ConnectionString"] = $"Data Source={Path.Combine(home, "registry.db")}",
            ["Serving:ApiKeys:0"] = "sha256:" + FineTune.Serving.Api.ApiKeys.Hash(Key),
            ["Serving:RegistryPollSeconds"] = "3600", ["Serving:ReleaseCheckSeconds"] = "1",
            ["Serving:Threads"] = "2", ["Serving:RequestsPerMinute"] = "0", ["Serving:ResponseCacheEntries"] = "0",
            ["Serving:MaxQueueLength"] = "256",
        })
            settings[k] = v;
        foreach (var (k, v) in extra ?? [])
            settings[k] = v;
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var logs = new WarningLog();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.Services.AddPipeline(builder.Configuration, p =>
        {
            p.AddDeploymentStage().AddRegistryServing();
            if (ingestion)
                p.AddIngestionStage();
        });
        var app = builder.Build();
        app.MapServing(allowAdapterLoading: false);
        await app.StartAsync();
        var deployment = new DeploymentHost(app, tmp, home) { Logs = logs };
        await deployment.RegisterAsync(home);
        return deployment;
    }

    async Task RegisterAsync(string home)
    {
        var inputs = _app.Services.GetRequiredService<RunInputs>();
        var store = _app.Services.GetRequiredService<IArtifactStore>();
        var baseRef = await inputs.PublishModelAsync(_model.ModelDirectory, default);
        var shortContext = Path.Combine(_tmp.Path, "short-context-model");
        Directory.CreateDirectory(shortContext);
        foreach (var file in Directory.GetFiles(_model.ModelDirectory))
            File.Copy(file, Path.Combine(shortContext, Path.GetFileName(file)));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(shortContext, "config.json")))!;
        config["max_position_embeddings"] = 10;
        File.WriteAllText(Path.Combine(shortContext, "config.json"), config.ToJsonString());
        _versions =
        [
            (await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, "p/v1", _model.AdapterDirectory),
                baseRef, "adapter"),
            (await ArtifactBundle.PutDirectoryAsync(store, Buckets.Models, "p/v2", _model.OtherAdapterDirectory),
                baseRef, "adapter"),
            (await inputs.PublishModelAsync(shortContext, default), baseRef, "full"),
        ];
        await Registry.WriteAsync(async s =>
        {
            for (int v = 1; v <= 3; v++)
            {
                await s.ClaimRawObjectAsync("p", new ArtifactRef(Buckets.Ingestion, $"p/{v}.jsonl",
                    new string((char)('a' + v), 64), 1), $"e{v}", Runs[v - 1], "drop");
                Assert.Equal(v, await s.CreateModelVersionAsync("p", Runs[v - 1], _versions[v - 1].Model,
                    _versions[v - 1].Base, _versions[v - 1].Kind));
            }
            await s.SetAliasAsync("p", "production", 1, Runs[0], "test");
        });
        await _app.Services.GetRequiredService<RegistryServing>().SyncAsync("p", default);
    }

    /// <summary>Version <paramref name="version"/> passes the gate under <paramref name="release"/> (canary or shadow):
    /// returns once it is routed.</summary>
    public async Task ReleaseAsync(int version, ReleaseSettings release)
    {
        await PassGateAsync(version, release);
        await ReleaseTests.Until(() => Router.TryGet("p", out var r) && r.Id == $"p@v{version}");
    }

    /// <summary>Version <paramref name="version"/> passes the gate under a direct release: returns once "p" serves it.
    /// </summary>
    public async Task PromoteAsync(int version, ReleaseSettings release)
    {
        await PassGateAsync(version, release);
        await ReleaseTests.Until(() => Catalog.TryResolve("p", out var m) && m.Version == $"p@v{version}");
    }

    async Task PassGateAsync(int version, ReleaseSettings release)
    {
        var inputs = _app.Services.GetRequiredService<RunInputs>();
        var settings = await inputs.PublishSettingsAsync(new PipelineSettings { Release = release }, default);
        var gate = new ArtifactRef(Buckets.Evaluations, $"p/gate{version}", new string('g', 64), 1);
        await _app.Services.GetRequiredService<IBus>().PublishForRun(new EvaluationCompleted
        {
            RunId = Runs[version - 1], Project = "p", ModelVersion = version, BaselineVersion = 1,
            CandidateResults = gate, BaselineResults = gate, Gate = gate, Promote = true, Reasons = ["task: pass"],
            CandidateMetrics = new Dictionary<string, double>(), BaselineMetrics = new Dictionary<string, double>(),
            Settings = settings,
        }, Runs[version - 1], default);
    }

    /// <summary>The dataset version <paramref name="version"/> was trained on, as ingestion leaves it: its records
    /// prepared by the data stages, its train split and data card in the store, recorded for the version's run.
    /// </summary>
    public async Task RecordDatasetAsync(int version, IEnumerable<object> records)
    {
        using var tmp = new TempDir();
        var input = Path.Combine(tmp.Path, "train.jsonl");
        var lines = records.Select(r => System.Text.Json.JsonSerializer.Serialize(r)).ToList();
        File.WriteAllLines(input, lines);
        var prepared = Path.Combine(tmp.Path, "prepared");
        await FineTune.Data.DatasetPreparer.PrepareAsync(input, prepared, new FineTune.Data.PrepareOptions());
        var store = Services.GetRequiredService<IArtifactStore>();
        var card = await store.PutFileAsync(Buckets.Datasets, $"p/v{version}/data_card.json",
            Path.Combine(prepared, "data_card.json"));
        var train = await store.PutFileAsync(Buckets.Datasets, $"p/v{version}/train.jsonl",
            Path.Combine(prepared, "train.jsonl"));
        await Registry.WriteAsync(s => s.RecordDatasetAsync(new DatasetRecord(Runs[version - 1], "p", train, card,
            lines.Count, 0, DateTimeOffset.UtcNow)));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _model.Dispose();
        _tmp.Dispose();
    }
}

/// <summary>Keeps the warnings and errors a host logs.</summary>
public sealed class WarningLog : ILoggerProvider
{
    readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();
    public override string ToString() => string.Join("\n", _lines);
    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
    public void Dispose()
    {
    }

    sealed class Logger(WarningLog log, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                log._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception?.Message}");
        }
    }
}
