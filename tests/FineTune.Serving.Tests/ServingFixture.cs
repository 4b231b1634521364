namespace FineTune.Serving.Tests;

public sealed class ServingFixture : IAsyncLifetime
{
    public TestModel Model { get; } = new();
    public ServerHandle Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await ServerHandle.StartAsync(Model);

    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        Model.Dispose();
    }
}

[CollectionDefinition("serving")]
public sealed class ServingCollection : ICollectionFixture<ServingFixture>;
