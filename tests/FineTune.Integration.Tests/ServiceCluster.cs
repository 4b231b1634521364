// The five services as child processes over the real servers, isolated per test: a RabbitMQ virtual host and a
// PostgreSQL database of their own (the S3 buckets are shared; projects are unique). Kill and restart one at will.
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using FineTune.Artifacts;
using FineTune.Registry;
using Npgsql;

namespace FineTune.Integration.Tests;

public sealed class ServiceCluster : IAsyncDisposable
{
    public static readonly string[] Services = ["Ingestion", "Tokenization", "Training", "Evaluation", "Deployment"];
    readonly Dictionary<string, Process> _processes = [];
    readonly Dictionary<string, string> _env;
    readonly string _vhost, _database, _adminConnection, _work;
    readonly TextWriter _log;

    public RunRegistry Registry { get; }
    /// <summary>This cluster's RabbitMQ (its own virtual host).</summary>
    public Uri RabbitMq => new(_env["Messaging__RabbitMqUri"]);
    public const string ServingKey = "sk-integration";
    /// <summary>The Deployment service's OpenAI-compatible endpoint.</summary>
    public Uri ServingEndpoint => new($"http://127.0.0.1:{Port("Deployment")}/v1");
    public IArtifactStore Store { get; }

    ServiceCluster(Dictionary<string, string> env, string vhost, string database, string adminConnection, string work,
        RunRegistry registry,
        IArtifactStore store, TextWriter log)
    {
        (_env, _vhost, _database, _adminConnection, _work, Registry, Store, _log) = (env, vhost, database,
            adminConnection, work, registry, store, log);
    }

    public static async Task<ServiceCluster> StartAsync(string work, string baseModel, string settingsFile,
        string? otlpEndpoint = null,
        IReadOnlyDictionary<string, string>? overrides = null)
    {
        var postgres = TestServers.RequirePostgres();
        var rabbit = TestServers.RequireRabbitMq();
        var (s3, access, secret) = TestServers.RequireS3();
        var management = Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ_MANAGEMENT") ?? "http://127.0.0.1:15679";
        var id = Guid.NewGuid().ToString("N")[..10];
        var vhost = $"it-{id}";
        using (var http = ManagementClient(management))
        {
            (await http.PutAsync($"api/vhosts/{vhost}",
                new StringContent("{}", Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
            (await http.PutAsync($"api/permissions/{vhost}/guest",
                new StringContent("{\"configure\":\".*\",\"write\":\".*\",\"read\":\".*\"}",
                Encoding.UTF8, "application/json"))).EnsureSuccessStatusCode();
        }
        var database = $"it_{id}";
        await using (var admin = new NpgsqlConnection(postgres))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"create database {database}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var connection = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString;
        var env = new Dictionary<string, string>
        {
            ["Messaging__RabbitMqUri"] = rabbit.TrimEnd('/') + "/" + vhost,
            ["Registry__Provider"] = "postgres",
            ["Registry__ConnectionString"] = connection,
            ["Artifacts__S3Endpoint"] = s3, ["Artifacts__S3AccessKey"] = access, ["Artifacts__S3SecretKey"] = secret,
            // Buckets of its own: another cluster's drops (or an earlier test's) are not this one's to process.
            ["Artifacts__BucketPrefix"] = $"it{id}-",
            ["Pipeline__BaseModelDirectory"] = baseModel,
            ["Pipeline__SettingsFile"] = settingsFile,
            ["Pipeline__Threads"] = "2",
            ["Pipeline__TrainingLeaseSeconds"] = "8",
            ["Pipeline__TrainingPollSeconds"] = "0.5",
            ["Pipeline__IngestionScanSeconds"] = "1",
            ["Pipeline__RetryIntervalsSeconds__0"] = "0.5",
            ["Pipeline__RetryIntervalsSeconds__1"] = "2",
            ["Pipeline__RetryIntervalsSeconds__2"] = "5",
            ["Logging__LogLevel__Default"] = "Information",
            // The Deployment service's OpenAI-compatible endpoint: the key as a hash, quick reconciliation.
            ["Serving__ApiKeys__0"] = "sha256:" + FineTune.Serving.Api.ApiKeys.Hash(ServingKey),
            ["Serving__RegistryPollSeconds"] = "2",
            ["Serving__Threads"] = "1",
        };
        if (otlpEndpoint is not null)
        {
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlpEndpoint;
            env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
            env["OTEL_BSP_SCHEDULE_DELAY"] = "500";
        }
        foreach (var (k, v) in overrides ?? new Dictionary<string, string>())
            env[k] = v;
        var registry = RunRegistry.Create(new RegistryOptions("postgres", connection));
        var store = new PrefixedArtifactStore(new S3ArtifactStore(new S3Options
        {
            Endpoint = s3, AccessKey = access,
            SecretKey = secret
        }), $"it{id}-");
        var log = TextWriter.Synchronized(new StreamWriter(Path.Combine(work, "services.log")) { AutoFlush = true });
        var cluster = new ServiceCluster(env, vhost, database, postgres, work, registry, store, log);
        try
        {
            foreach (var service in Services)
                cluster.Start(service);
            await cluster.WaitHealthyAsync(TimeSpan.FromSeconds(90));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();   // no orphaned service processes when one fails to start
            throw;
        }
    }

    static HttpClient ManagementClient(string management)
    {
        var http = new HttpClient { BaseAddress = new Uri(management.TrimEnd('/') + "/") };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String("guest:guest"u8.ToArray()));
        return http;
    }

    /// <summary>The finetune CLI of this build, run as a process against this cluster's servers (as a user would after
    /// `source .run/infra.env`).</summary>
    public async Task<(int Exit, string Out, string Err)> CliAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet",
            [BuildOutput("tools/FineTune.Cli", "finetune.dll"), .. args])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true, UseShellExecute = false
        };
        info.Environment["FINETUNE_POSTGRES"] = _env["Registry__ConnectionString"];
        info.Environment["FINETUNE_S3_ENDPOINT"] = _env["Artifacts__S3Endpoint"];
        info.Environment["FINETUNE_S3_ACCESS_KEY"] = _env["Artifacts__S3AccessKey"];
        info.Environment["FINETUNE_S3_SECRET_KEY"] = _env["Artifacts__S3SecretKey"];
        info.Environment["FINETUNE_S3_BUCKET_PREFIX"] = _env["Artifacts__BucketPrefix"];
        info.Environment["FINETUNE_RABBITMQ"] = _env["Messaging__RabbitMqUri"];
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        return (p.ExitCode, await stdout, await stderr);
    }

    // tests/FineTune.Integration.Tests/bin/<Configuration>/net10.0 → <project>/bin/<Configuration>/net10.0/<file>
    static string BuildOutput(string project, string file)
    {
        var here = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        var configuration = Path.GetFileName(Path.GetDirectoryName(here)!);
        var repo = Path.GetFullPath(Path.Combine(here, "..", "..", "..", "..", ".."));
        var path = Path.Combine(repo, project, "bin", configuration, "net10.0", file);
        if (!File.Exists(path))
            throw new FileNotFoundException($"{path} not found: build the solution (dotnet build " +
                $"FineTunePipeline.sln) first.", path);
        return path;
    }

    public static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        finally
        {
            listener.Stop();
        }
    }

    readonly Dictionary<string, int> _ports = [];

    public int Port(string service) => _ports.TryGetValue(service, out var port) ? port : _ports[service] = FreePort();

    public void Start(string service) =>
        _processes[service] = Launch(service, service, Port(service),
            new Dictionary<string, string> { ["OTEL_SERVICE_NAME"] = service.ToLowerInvariant() });

    // A service process with the cluster's settings (plus overrides), its output in services.log under `name`.
    Process Launch(string service, string name, int port, IReadOnlyDictionary<string, string> overrides)
    {
        var dll = BuildOutput($"services/{service}", $"FineTune.{service}Service.dll");
        var info = new ProcessStartInfo("dotnet", dll)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        foreach (var (k, v) in _env)
            info.Environment[k] = v;
        foreach (var (k, v) in overrides)
            info.Environment[k] = v;
        info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        info.Environment["Pipeline__WorkDirectory"] = Path.Combine(_work, name.ToLowerInvariant());
        var process = Process.Start(info)!;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                _log.WriteLine($"[{name}] {e.Data}");
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
                _log.WriteLine($"[{name}!] {e.Data}");
        };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Restarts the RabbitMQ application on its node (connections drop; durable queues and persistent
    /// messages stay), as a broker restart does. Needs rabbitmqctl and FINETUNE_RABBITMQ_NODE (infra.env has
    /// it).</summary>
    public static async Task RestartBrokerAsync(TimeSpan down)
    {
        var node = Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ_NODE");
        Skip.If(node is null,
            "FINETUNE_RABBITMQ_NODE not set: source .run/infra.env (scripts/infra-start.sh writes it)");
        await RabbitCtl(node!, "stop_app");
        await Task.Delay(down);
        await RabbitCtl(node!, "start_app");
    }

    static async Task RabbitCtl(string node, string command)
    {
        using var p = Process.Start(new ProcessStartInfo("rabbitmqctl",
            ["-n", node, command])
        { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await p.WaitForExitAsync();
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"rabbitmqctl -n {node} {command}: exit {p.ExitCode}: " +
                $"{await p.StandardError.ReadToEndAsync()}");
    }

    /// <summary>Publishes a plain (non-MassTransit) message to an exchange of this cluster's virtual host, as MinIO's
    /// bucket notifications do.</summary>
    public async Task PublishRawAsync(string exchange, string json)
    {
        using var http = ManagementClient(Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ_MANAGEMENT")
            ?? "http://127.0.0.1:15679");
        var body = System.Text.Json.JsonSerializer.Serialize(new
        {
            properties = new
            {
                content_type = "application/json"
            }, routing_key = "", payload = json, payload_encoding = "string"
        });
        var response = await http.PostAsync($"api/exchanges/{_vhost}/{exchange}/publish",
            new StringContent(body, Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        Assert.Contains("\"routed\":true", await response.Content.ReadAsStringAsync());
    }

    /// <summary>One more instance of a service with some settings changed, outside the cluster's bookkeeping.</summary>
    public Task<DetachedService> StartDetachedAsync(string service, IReadOnlyDictionary<string, string> overrides)
    {
        int port = FreePort();
        return Task.FromResult(new DetachedService(Launch(service, service + "-detached", port, overrides),
            $"http://127.0.0.1:{port}"));
    }

    public sealed class DetachedService(Process process, string url) : IAsyncDisposable
    {
        public string Url { get; } = url;

        public async ValueTask DisposeAsync()
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
            process.Dispose();
        }
    }

    /// <summary>SIGKILL: no shutdown, no lease release — a crash.</summary>
    public void Kill(string service)
    {
        var p = _processes[service];
        p.Kill(entireProcessTree: true);
        p.WaitForExit();
    }

    public async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        foreach (var service in _processes.Keys)
            while (true)
            {
                if (_processes[service].HasExited)
                    throw new InvalidOperationException($"{service} exited with {_processes[service].ExitCode}; see " +
                        $"{_work}/services.log");
                try
                {
                    if ((await http.GetAsync($"http://127.0.0.1:{Port(service)}/health")).IsSuccessStatusCode)
                        break;
                }
                catch (HttpRequestException)
                {
                }
                catch (TaskCanceledException)
                {
                }
                if (DateTime.UtcNow > deadline)
                    throw new TimeoutException($"{service} not healthy within {timeout}; see {_work}/services.log");
                await Task.Delay(300);
            }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes.Values)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill(entireProcessTree: true);
                    await p.WaitForExitAsync();
                }
            }
            catch (InvalidOperationException)
            {
            }
            p.Dispose();
        }
        _log.Dispose();
        // The services' output outlives the test's temporary folder: a failure in CI can be read afterwards.
        try
        {
            var results = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "TestResults");
            Directory.CreateDirectory(results);
            File.Copy(Path.Combine(_work, "services.log"), Path.Combine(results, $"services-{_vhost}.log"), true);
        }
        catch (IOException)
        {
        }
        try
        {
            using var http = ManagementClient(Environment.GetEnvironmentVariable("FINETUNE_RABBITMQ_MANAGEMENT")
                ?? "http://127.0.0.1:15679");
            await http.DeleteAsync($"api/vhosts/{_vhost}");
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(_adminConnection);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"drop database if exists {_database} with (force)", admin);
            await drop.ExecuteNonQueryAsync();
        }
        catch (Exception)
        {
            // best effort: a leftover vhost or database does not affect other runs
        }
    }
}
