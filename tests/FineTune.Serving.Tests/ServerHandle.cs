// A running server on a free loopback port, with an HttpClient that sends the test key.
using System.Net.Http.Headers;
using FineTune.Serving.Engine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Tests;

public sealed class ServerHandle : IAsyncDisposable
{
    public const string Key = "sk-test-key";
    readonly WebApplication _app;

    public Uri BaseAddress { get; }
    public HttpClient Http { get; }
    public ModelCatalog Catalog => _app.Services.GetRequiredService<ModelCatalog>();
    public string BaseName { get; }

    ServerHandle(WebApplication app, string baseName)
    {
        _app = app;
        BaseName = baseName;
        var address = app.Services.GetRequiredService<IServer>()
            .Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address.TrimEnd('/') + "/");
        Http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
    }

    public static Task<ServerHandle> StartAsync(TestModel model,
        Func<ServingOptions, ServingOptions>? configure = null, bool adapters = true) =>
        StartAsync(model.ModelDirectory, adapters ? new Dictionary<string, string>
        {
            ["support"] =
            model.AdapterDirectory
        } : [], configure);

    /// <summary>Serves the model at <paramref name="modelDirectory"/> (its folder is the adapters root).</summary>
    public static async Task<ServerHandle> StartAsync(string modelDirectory, Dictionary<string, string> adapters,
        Func<ServingOptions, ServingOptions>? configure = null)
    {
        var app = StandaloneServer.Build(new StandaloneSettings
        {
            ModelPath = modelDirectory,
            Adapters = adapters,
            Url = "http://127.0.0.1:0",
            Configure = o =>
            {
                var options = o with
                {
                    ApiKeys = ["sha256:" + FineTune.Serving.Api.ApiKeys.Hash(Key)],
                    Threads = 2,
                    RequestsPerMinute = 0,
                    ResponseCacheEntries = 0,
                    // The test key is an admin key too, and the test model's folder is the adapters root.
                    AdminApiKeys = ["sha256:" + FineTune.Serving.Api.ApiKeys.Hash(Key)],
                    RuntimeAdapterLoading = true,
                    AdaptersRoot = Path.GetDirectoryName(modelDirectory),
                };
                return configure is null ? options : configure(options);
            },
            Logging = l => l.SetMinimumLevel(LogLevel.Warning),
        });
        await app.StartAsync();
        return new ServerHandle(app, StandaloneServer.DefaultName(modelDirectory));
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
