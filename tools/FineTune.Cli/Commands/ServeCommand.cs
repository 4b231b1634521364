// finetune serve MODEL [--adapter NAME=DIR …] [--port N] [--api-key KEY]: the OpenAI-compatible server over one model.
// The address is checked before the model loads, so a port in use or not permitted fails at once with one line.
using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using FineTune.Contracts;
using FineTune.ServiceDefaults;
using FineTune.Serving;
using FineTune.Serving.Api;
using Microsoft.Extensions.DependencyInjection;

namespace FineTune.Cli.Commands;

static class ServeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var model = new Argument<string>("model")
        {
            Description = "Hugging Face model directory (config.json, *.safetensors, tokenizer files) or llama2.c .bin"
        };
        var adapters = new Option<string[]>("--adapter")
        {
            Description = "Serve a PEFT LoRA adapter over the model as NAME=DIR (repeatable)"
        };
        var name = new Option<string?>("--name")
        {
            Description = "The base model's name in the API (default: the directory name)"
        };
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on",
            DefaultValueFactory = _ => "127.0.0.1"
        };
        var port = new Option<int>("--port") { Description = "Port to listen on", DefaultValueFactory = _ => 8000 };
        var keys = new Option<string[]>("--api-key")
        {
            Description =
                "Accepted API key (repeatable; also Serving__ApiKeys__0 or FINETUNE_API_KEY). None given: one is " +
            "generated and printed"
        };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "Tokenizer file or directory, when the model has none beside it"
        };
        var dtype = new Option<string?>("--dtype")
        {
            Description = "How the weights are held: auto (default: a bfloat16 checkpoint stays bfloat16, others " +
                "float32), float32, bfloat16, int8 (weight-only, per-channel scales) or w8a8 (int8 activations too, " +
                "AVX-VNNI)",
        };
        dtype.AcceptOnlyFromAmong([.. FineTune.Models.Inference.CpuLlamaOptions.Dtypes]);
        var int8 = new Option<bool>("--int8") { Description = "The same as --dtype int8" };
        var int8Activations = new Option<bool>("--int8-activations") { Description = "The same as --dtype w8a8" };
        var kvDtype = new Option<string?>("--kv-cache-dtype")
        {
            Description = "How keys and values are cached: auto (default: as the weights, so a bfloat16 model " +
                "keeps a bfloat16 cache and float32 and int8 ones a float32 cache), float32 or bfloat16 (half the " +
                "cache memory and traffic)",
        };
        kvDtype.AcceptOnlyFromAmong("auto", "float32", "bfloat16");
        var bf16Kv = new Option<bool>("--bf16-kv-cache") { Description = "The same as --kv-cache-dtype bfloat16" };
        var threads = new Option<int>("--threads") { Description = "Kernel threads (0 = all cores)" };
        var batch = new Option<int?>("--max-batch") { Description = "Sequences decoded together (default 16)" };
        var queue = new Option<int?>("--max-queue") { Description = "Waiting requests before 429 (default 64)" };
        var rpm = new Option<int?>("--requests-per-minute")
        {
            Description = "Per-key rate limit (default 600; 0 = none)"
        };
        var adaptersRoot = new Option<string?>("--adapters-root")
        {
            Description =
                "Allow admin keys to load and unload adapters at run time (vLLM's /v1/load_lora_adapter), read only " +
            "from inside DIR"
        };
        var adminKeys = new Option<string[]>("--admin-key")
        {
            Description = "An API key that may also load and unload adapters (repeatable; needed with --adapters-root)"
        };
        var command = new Command("serve",
            "Serve a model over an OpenAI-compatible HTTP API (chat/completions, completions, models; SSE streaming).")
        {
            model, adapters, name, host, port, keys, tokenizer, dtype, int8, int8Activations, kvDtype, bf16Kv, threads,
            batch, queue, rpm, adaptersRoot, adminKeys,
        };
        command.SetAction(async (parse, ct) =>
        {
            var adapterMap = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in parse.GetValue(adapters) ?? [])
            {
                var at = entry.IndexOf('=');
                if (at <= 0 || at == entry.Length - 1)
                    throw new ArgumentException($"--adapter '{entry}': expected NAME=DIR, e.g. --adapter " +
                        $"support=runs/support/adapter.");
                adapterMap[ResourceNames.Validate(entry[..at], "--adapter")] = entry[(at + 1)..];
            }
            var root = parse.GetValue(adaptersRoot);
            var admins = parse.GetValue(adminKeys) ?? [];
            if (root is not null && admins.Length == 0)
                throw new ArgumentException("--adapters-root: give the keys that may load adapters with --admin-key " +
                    "KEY.");
            if (root is not null && !Directory.Exists(root))
                throw new DirectoryNotFoundException($"--adapters-root: '{root}' is not a directory.");
            // --int8 and --int8-activations are the older names of two weight formats
            var format = parse.GetValue(dtype);
            var alias = parse.GetValue(int8Activations) ? "w8a8" : parse.GetValue(int8) ? "int8" : null;
            if (format is not null && alias is not null && format != alias)
                throw new ArgumentException($"--dtype {format} and " +
                    $"--{(alias == "w8a8" ? "int8-activations" : "int8")} ask for different weight formats; give one.");
            format ??= alias;
            // --bf16-kv-cache is the older name of --kv-cache-dtype bfloat16
            var cache = parse.GetValue(kvDtype);
            if (cache is not null && cache != "bfloat16" && parse.GetValue(bf16Kv))
                throw new ArgumentException($"--kv-cache-dtype {cache} and --bf16-kv-cache ask for different caches; " +
                    "give one.");
            CheckAddress(parse.GetValue(host)!, parse.GetValue(port));
            var given = (parse.GetValue(keys) ?? []).ToList();
            string? generated = null;
            bool configured = given.Count > 0 || Environment.GetEnvironmentVariable("FINETUNE_API_KEY")
                is { Length: > 0 }
                              || Environment.GetEnvironmentVariable("Serving__ApiKeys__0") is { Length: > 0 };
            if (!configured)
                given.Add(generated = ApiKeys.Generate());
            var url = $"http://{parse.GetValue(host)}:{parse.GetValue(port)}";
            var app = StandaloneServer.Build(new StandaloneSettings
            {
                ModelPath = parse.GetValue(model)!,
                Name = parse.GetValue(name),
                Adapters = adapterMap,
                TokenizerPath = parse.GetValue(tokenizer),
                Url = url,
                // OpenTelemetry (OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set: the serving meter and a span per
                // request), /health and /alive, as every service has.
                ConfigureHost = b => b.AddServiceDefaults(),
                ConfigureApp = a => a.MapDefaultEndpoints(),
                Configure = o => o with
                {
                    ApiKeys = [.. o.ApiKeys, .. given],
                    Dtype = format ?? o.Dtype,
                    Bf16KvCache = cache switch
                    {
                        "auto" => null,
                        "bfloat16" => true,
                        "float32" => false,
                        _ => parse.GetValue(bf16Kv) ? true : o.Bf16KvCache,
                    },
                    Threads = parse.GetValue(threads) is var t and > 0 ? t : o.Threads,
                    MaxBatchSize = parse.GetValue(batch) ?? o.MaxBatchSize,
                    MaxQueueLength = parse.GetValue(queue) ?? o.MaxQueueLength,
                    RequestsPerMinute = parse.GetValue(rpm) ?? o.RequestsPerMinute,
                    AdminApiKeys = [.. o.AdminApiKeys, .. admins],
                    RuntimeAdapterLoading = root is not null || o.RuntimeAdapterLoading,
                    AdaptersRoot = root ?? o.AdaptersRoot,
                },
            });
            try
            {
                await app.StartAsync(ct);
            }
            // lost the port meanwhile
            catch (IOException e)
            {
                throw new IOException($"could not listen on {url}: {e.Message}", e);
            }
            var served = app.Services.GetRequiredService<FineTune.Serving.Engine.ModelCatalog>().All;
            await stdout.WriteLineAsync($"serving {string.Join(", ", served.Select(m => m.Parent is null ? m.Id : $"{m.Id} (adapter over {m.Parent})"))} at {url}/v1");
            await stdout.WriteLineAsync($"API reference: {url}/docs   readiness: {url}/health/ready");
            if (generated is not null)
                await stdout.WriteLineAsync($"API key (generated; pass --api-key to choose one): {generated}");
            return await UntilCancelledAsync(app, ct);
        });
        return command;
    }

    /// <summary>Serves until Ctrl-C (the command's cancellation), then stops the host; exit 0.</summary>
    internal static async Task<int> UntilCancelledAsync(Microsoft.Extensions.Hosting.IHost app, CancellationToken ct)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }

    // Before minutes of model loading: a port out of range, in use, or not ours to take is the user's to fix.
    internal static void CheckAddress(string host, int port)
    {
        if (port is < 1 or > 65535)
            throw new ArgumentException($"--port {port}: a port is a number from 1 to 65535.");
        if (!IPAddress.TryParse(host == "localhost" ? "127.0.0.1" : host, out var address))
            throw new ArgumentException($"--host '{host}': expected an IP address such as 127.0.0.1 or 0.0.0.0.");
        try
        {
            using var probe = new TcpListener(address, port);
            probe.Start();
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse)
        {
            throw new IOException($"--port {port}: {host}:{port} is already in use (another server?); choose a free " +
                $"port with --port.");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AccessDenied)
        {
            throw new IOException($"--port {port}: this user may not listen on port {port} (ports below 1024 need " +
                $"privileges); choose one above 1023.");
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressNotAvailable)
        {
            throw new IOException($"--host {host}: no network interface of this machine has that address.");
        }
    }
}
