// RunRegistry.Create's checks of its options: they fail at start with a message that names what was expected.
namespace FineTune.Registry.Tests;

[Trait("Kind", "unit")]
public sealed class RegistryOptionsTests
{
    [Fact]
    public void An_unknown_provider_is_rejected_with_the_supported_ones()
    {
        var e = Assert.Throws<ArgumentException>(() => RunRegistry.Create(new RegistryOptions("mysql", "Server=x")));
        Assert.Contains("'sqlite' or 'postgres'", e.Message);
    }

    [Fact]
    public void An_empty_connection_string_is_rejected()
    {
        var e = Assert.Throws<ArgumentException>(() => RunRegistry.Create(new RegistryOptions("sqlite", " ")));
        Assert.Contains("Registry:ConnectionString", e.Message);
    }

    [Theory]
    [InlineData("Data Source=:memory:")]
    [InlineData("Data Source=registry;Mode=Memory;Cache=Shared")]
    public void An_in_memory_sqlite_database_is_rejected(string connectionString)
    {
        var e = Assert.Throws<ArgumentException>(() => RunRegistry.Create(new RegistryOptions("sqlite",
            connectionString)));
        Assert.Contains("expected a file", e.Message);
    }

    [Fact]
    public void Sqlite_options_name_the_file()
    {
        var options = RegistryOptions.Sqlite("/tmp/state/registry.db");
        Assert.Equal((RegistryOptions.SqliteProvider, "Data Source=/tmp/state/registry.db"),
            (options.Provider, options.ConnectionString));
    }
}
