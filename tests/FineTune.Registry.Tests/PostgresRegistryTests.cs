// The registry behaviour suite against PostgreSQL: each test creates its own database reg_<guid> from the
// FINETUNE_TEST_POSTGRES connection and drops it afterwards, so runs are independent. Skips when that variable is
// unset.
using Dapper;
using Npgsql;

namespace FineTune.Registry.Tests;

[Trait("Kind", "integration")]
public sealed class PostgresRegistryTests : RegistryBehaviour
{
    protected override async Task<RegistryFixture> CreateFixtureAsync(bool migrate = true)
    {
        var admin = TestServers.RequirePostgres();
        var name = $"reg_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync();
            await connection.ExecuteAsync($"create database {name}");
        }
        var options = RegistryOptions.Postgres(new NpgsqlConnectionStringBuilder(admin) { Database = name }.ToString());
        return await RegistryFixture.CreateAsync(options, async () =>
        {
            NpgsqlConnection.ClearPool(new NpgsqlConnection(options.ConnectionString)); // DbUp's connections
            await using var connection = new NpgsqlConnection(admin);
            await connection.OpenAsync();
            await connection.ExecuteAsync($"drop database if exists {name} with (force)");
        }, migrate);
    }
}
