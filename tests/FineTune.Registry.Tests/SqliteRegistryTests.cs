// The registry behaviour suite against SQLite: a fresh database file per test; plus what only SQLite has (the journal
// mode).
using Dapper;
using Microsoft.Data.Sqlite;

namespace FineTune.Registry.Tests;

[Trait("Kind", "unit")]
public sealed class SqliteRegistryTests : RegistryBehaviour
{
    protected override Task<RegistryFixture> CreateFixtureAsync(bool migrate = true)
    {
        var dir = new TempDir();
        // A folder that does not exist yet: MigrateAsync creates it.
        var options = RegistryOptions.Sqlite(Path.Combine(dir.Path, "state", "registry.db"));
        return RegistryFixture.CreateAsync(options, () =>
        {
            // Pooled connections keep the file open; idle ones are closed, busy ones close when returned.
            SqliteConnection.ClearAllPools();
            dir.Dispose();
            return ValueTask.CompletedTask;
        }, migrate);
    }

    [Fact]
    public async Task The_migrated_file_is_in_wal_mode()
    {
        await using var fx = await CreateFixtureAsync();
        await using var connection = new SqliteConnection(fx.Options.ConnectionString);
        await connection.OpenAsync();

        Assert.Equal("wal", await connection.ExecuteScalarAsync<string>("pragma journal_mode"));
    }
}
