// One empty, migrated registry database for one test, with a manual clock; Open() gives further RunRegistry instances
// on the same database (stand-ins for other processes). Disposing closes them all and drops the database.
namespace FineTune.Registry.Tests;

public sealed class RegistryFixture : IAsyncDisposable
{
    readonly List<RunRegistry> _opened = [];
    readonly Func<ValueTask> _drop;

    RegistryFixture(RegistryOptions options, Func<ValueTask> drop)
    {
        Options = options;
        _drop = drop;
        Registry = Open();
    }

    public static readonly DateTimeOffset Start = new(2025, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public RegistryOptions Options { get; }
    public ManualClock Clock { get; } = new(Start);
    public RunRegistry Registry { get; }

    public static async Task<RegistryFixture> CreateAsync(RegistryOptions options, Func<ValueTask> drop, bool migrate)
    {
        var fixture = new RegistryFixture(options, drop);
        try
        {
            if (migrate)
                await fixture.Registry.MigrateAsync();
            return fixture;
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
    }

    public RunRegistry Open()
    {
        var registry = RunRegistry.Create(Options, Clock);
        lock (_opened)
            _opened.Add(registry);
        return registry;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var registry in _opened)
            await registry.DisposeAsync();
        await _drop();
    }
}
