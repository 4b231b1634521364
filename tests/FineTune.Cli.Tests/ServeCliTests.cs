// finetune serve: a generated key when none is given (printed once, required after), the model and its adapters
// listed, a clean exit on Ctrl-C (cancellation), and a clear error for a malformed --adapter.
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using FineTune.Serving.Tests;

namespace FineTune.Cli.Tests;

public sealed class ServeCliTests
{
    sealed class SyncWriter : StringWriter
    {
        readonly object _gate = new();

        public override void Write(char value)
        {
            lock (_gate)
                base.Write(value);
        }

        public override void Write(string? value)
        {
            lock (_gate)
                base.Write(value);
        }

        public override void WriteLine(string? value)
        {
            lock (_gate)
                base.WriteLine(value);
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }

        public override Task WriteAsync(string? value)
        {
            Write(value);
            return Task.CompletedTask;
        }

        public override string ToString()
        {
            lock (_gate)
                return base.ToString();
        }
    }

    [Fact]
    public async Task Serve_prints_a_generated_key_serves_the_model_and_its_adapters_and_stops_on_cancel()
    {
        using var model = new TestModel();
        int port = FreePorts.Next();
        var stdout = new SyncWriter();
        var stderr = new SyncWriter();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        var run = Cli.RunAsync(["serve", model.ModelDirectory, "--port", port.ToString(), "--adapter",
            $"support={model.AdapterDirectory}", "--threads", "1"],
            stdout, stderr, cts.Token);
        string? key = null;
        for (int i = 0; i < 300 && key is null && !run.IsCompleted; i++)
        {
            key = stdout.ToString().Split('\n').FirstOrDefault(l => l.StartsWith("API key"))?.Split(' ').Last().Trim();
            if (key is null)
                await Task.Delay(100);
        }
        Assert.True(key is not null, $"no key printed; stdout: {stdout}; stderr: {stderr}");
        Assert.StartsWith("ft-", key);
        Assert.Contains($"http://127.0.0.1:{port}/v1", stdout.ToString());

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/models")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        var models = JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement.GetProperty("data")
            .EnumerateArray()
            .ToDictionary(m => m.GetProperty("id").GetString()!, m => m.GetProperty("parent").GetString());
        Assert.Null(models["tiny-chat"]);
        Assert.Equal("tiny-chat", models["support"]);

        cts.Cancel();
        Assert.Equal(0, await run);
    }

    [Fact]
    public async Task A_malformed_adapter_option_names_the_expected_form()
    {
        using var model = new TestModel();
        var (exit, _, err) = await CliRunner.Run("serve", model.ModelDirectory, "--adapter", "no-equals-sign");
        Assert.NotEqual(0, exit);
        Assert.Contains("NAME=DIR", err);
    }
}
