// The AppHost started once for the tests of this assembly, as a person would run it but hermetic: executables mode,
// free ports, its servers' data in a temporary folder, and (through the "Services" section the AppHost passes on)
// the small test base model and fast settings, so a run takes about a minute on two cores.
using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using FineTune.Artifacts;
using FineTune.Pipeline.Tests;
using FineTune.Registry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FineTune.AppHost.Tests;

public sealed class AppHostFixture : IAsyncLifetime
{
    public const string ServingKey = "sk-apphost-e2e";
    public static readonly string[] Infrastructure = ["messaging", "state", "artifacts"];
    public static readonly string[] Services = ["ingestion", "tokenization", "training", "evaluation", "deployment"];

    readonly TempDir _tmp = new();
    string? _skip;

    public DistributedApplication App { get; private set; } = null!;
    public RunRegistry Registry { get; private set; } = null!;
    public IArtifactStore Store { get; private set; } = null!;
    public string DataPath => _tmp.Path;
    public TimeSpan StartedIn { get; private set; }
    public Uri Dashboard { get; private set; } = null!;

    public void SkipWhenUnavailable() => Skip.If(_skip is not null, _skip);

    public async Task InitializeAsync()
    {
        _skip = Unavailable();
        if (_skip is not null)
            return;
        // The servers run as users rabbitmq and postgres, who must reach their folders.
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(_tmp.Path, (UnixFileMode)0b111_101_101);
        var (amqp, management, distribution, postgres, s3) = (FreePorts.Next(), FreePorts.Next(), FreePorts.Next(),
            FreePorts.Next(), FreePorts.Next());
        var (dashboard, otlp) = (FreePorts.Next(), FreePorts.Next());
        var settings = Path.Combine(_tmp.Path, "settings.json");
        await File.WriteAllTextAsync(settings, PipelineFixture.FastSettings(epochs: 4).ToJson());
        string[] args =
        [
            "--Parameters:infrastructure=executables",
            $"--Parameters:serving-api-key={ServingKey}",
            $"--Infrastructure:DataDirectory={_tmp.Path}",
            $"--Infrastructure:RabbitMqPort={amqp}",
            $"--Infrastructure:RabbitMqManagementPort={management}",
            $"--Infrastructure:RabbitMqDistributionPort={distribution}",
            $"--Infrastructure:RabbitMqNode=ftp-e2e-{Guid.NewGuid():N}@localhost",
            $"--Infrastructure:PostgresPort={postgres}",
            $"--Infrastructure:S3Port={s3}",
            $"--Services:Pipeline:BaseModelDirectory={await PipelineFixture.BaseModelAsync()}",
            $"--Services:Pipeline:SettingsFile={settings}",
            "--Services:Pipeline:Threads=1",
            "--Services:Pipeline:TrainingLeaseSeconds=8",
            "--Services:Pipeline:TrainingPollSeconds=0.5",
            "--Services:Pipeline:IngestionScanSeconds=1",
            "--Services:Serving:RegistryPollSeconds=2",
            "--Services:Serving:Threads=1",
            // The dashboard, as `dotnet run --project AppHost` serves it (unsecured, on loopback), for the browser
            // test; the services export their telemetry to it.
            $"--ASPNETCORE_URLS=http://127.0.0.1:{dashboard}",
            $"--ASPIRE_DASHBOARD_OTLP_HTTP_ENDPOINT_URL=http://127.0.0.1:{otlp}",
            "--ASPIRE_ALLOW_UNSECURED_TRANSPORT=true",
            "--ASPIRE_DASHBOARD_UNSECURED_ALLOW_ANONYMOUS=true",
        ];
        var started = DateTime.UtcNow;
        var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.FineTune_AppHost>(args,
            (options, _) => options.DisableDashboard = false);
        var results = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "TestResults");
        Directory.CreateDirectory(results);
        builder.Services.AddLogging(l => l.AddProvider(new FileLoggerProvider(Path.Combine(results, "apphost.log"))));
        App = await builder.BuildAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        await App.StartAsync(timeout.Token);
        foreach (var name in Infrastructure.Concat(Services))
            await App.ResourceNotifications.WaitForResourceHealthyAsync(name, timeout.Token);
        StartedIn = DateTime.UtcNow - started;
        // Aspire.Hosting.Testing moves the dashboard to a port of its own; its resource names where.
        Dashboard = App.GetEndpoint("aspire-dashboard", "http");

        Registry = RunRegistry.Create(new RegistryOptions("postgres",
            $"Host=127.0.0.1;Port={postgres};Username=postgres;Database=finetune"));
        Store = new S3ArtifactStore(new S3Options
        {
            Endpoint = $"127.0.0.1:{s3}", AccessKey = "S3RVER", SecretKey = "S3RVER"
        });
    }

    public async Task DisposeAsync()
    {
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }
        _tmp.Dispose();
    }

    /// <summary>The project's first run once <paramref name="done"/> holds for it.</summary>
    public async Task<RunRecord> WaitForRunAsync(string project, Func<RunRecord, bool> done, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var run = (await Registry.ReadAsync(s => s.ListRunsAsync(project, 10))).MinBy(r => r.CreatedAt);
            if (run is not null && done(run))
                return run;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"project {project}: not done within {timeout}: {run?.Status} {run?.Error}");
            await Task.Delay(300);
        }
    }

    /// <summary>The training replicas as DCP runs them: resource id (what the dashboard names and its commands
    /// address) and process id.</summary>
    public async Task<List<(string Id, int Pid)>> TrainingReplicasAsync()
    {
        var found = new Dictionary<string, int>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in App.ResourceNotifications.WatchAsync(timeout.Token))
        {
            if (e.Resource.Name != "training")
                continue;
            var pid = e.Snapshot.Properties.FirstOrDefault(p => p.Name.EndsWith(".pid", StringComparison.Ordinal));
            if (pid?.Value is { } value && int.TryParse(value.ToString(), out var id))
                found[e.ResourceId] = id;
            if (found.Count == 2)
                break;
        }
        return found.Select(kv => (kv.Key, kv.Value)).ToList();
    }

    /// <summary>The replica whose process is the training worker <paramref name="workerId"/> (host-pid); DCP's pid is
    /// the service's own or that of the `dotnet run` above it.</summary>
    public async Task<string> ReplicaOfWorkerAsync(string workerId)
    {
        var pid = int.Parse(workerId[(workerId.LastIndexOf('-') + 1)..], CultureInfo.InvariantCulture);
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
        var replicas = await TrainingReplicasAsync();
        Assert.Equal(2, replicas.Count);
        return replicas.Single(r => r.Pid == pid || r.Pid == parent).Id;
    }

    /// <summary>The URL of a service's http endpoint, as the AppHost allocated it.</summary>
    public Uri Url(string service) => App.GetEndpoint(service, "http");

    // The scripts install RabbitMQ and PostgreSQL when missing, which needs root.
    static string? Unavailable()
    {
        var installed = File.Exists("/usr/sbin/rabbitmq-server") && Directory.Exists("/usr/lib/postgresql");
        if (!installed && Environment.UserName != "root")
            return "the AppHost's executables need rabbitmq-server and postgresql (apt), which only root can " +
                "install: run scripts/setup-test-env.sh as root";
        return OperatingSystem.IsLinux() ? null : "the AppHost's executables mode is run on Linux";
    }

}

[CollectionDefinition(Name)]
public sealed class AppHostCollection : ICollectionFixture<AppHostFixture>
{
    public const string Name = "apphost";
}
