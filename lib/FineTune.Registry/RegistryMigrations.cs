// Applies the embedded scripts Migrations/{sqlite,postgres}/NNNN_name.sql with DbUp, one process at a time: PostgreSQL
// holds an advisory lock around the upgrade; SQLite runs it in one BEGIN IMMEDIATE transaction (the file's write lock),
// so a second process waits (busy timeout) and then finds the journal up to date.
using System.Data;
using Dapper;
using DbUp;
using DbUp.Engine;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FineTune.Registry;

internal static class RegistryMigrations
{
    // pg_advisory_lock key: "FTRegMig" as a big-endian int64; advisory locks are per database.
    const long PostgresLockKey = 0x4654_5265_674D_6967;

    public static async Task SqliteAsync(string connectionString, CancellationToken ct)
    {
        var path = new SqliteConnectionStringBuilder(connectionString).DataSource;
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { Length: > 0 } folder)
            Directory.CreateDirectory(folder);  // Microsoft.Data.Sqlite creates the file, not its folder

        // journal_mode cannot change inside a transaction, and it persists in the file: set it once, before DbUp.
        await using (var connection = new SqliteConnection(connectionString))
        {
            await connection.OpenAsync(ct);
            await connection.ExecuteAsync(new CommandDefinition(RunRegistry.SqlitePragmas
                + " pragma journal_mode = wal;",
                cancellationToken: ct));
        }

        var upgrader = DeployChanges.To.SqliteDatabase(connectionString)
            .WithScriptsEmbeddedInAssembly(typeof(RegistryMigrations).Assembly,
                name => name.Contains(".Migrations.sqlite."))
            .WithTransaction()
            .WithVariablesDisabled()
            .LogToNowhere()
            .Build();
        var result = await Task.Run(upgrader.PerformUpgrade, ct);
        ThrowIfFailed(result, $"SQLite file '{path}'");
    }

    public static async Task PostgresAsync(NpgsqlDataSource dataSource, string connectionString, CancellationToken ct)
    {
        await using var lockConnection = await dataSource.OpenConnectionAsync(ct);
        await lockConnection.ExecuteAsync(new CommandDefinition("select pg_advisory_lock(@key)",
            new { key = PostgresLockKey },
            cancellationToken: ct));
        try
        {
            var upgrader = DeployChanges.To.PostgresqlDatabase(connectionString)
                .WithScriptsEmbeddedInAssembly(typeof(RegistryMigrations).Assembly,
                    name => name.Contains(".Migrations.postgres."))
                .WithTransaction()
                .WithVariablesDisabled()
                .LogToNowhere()
                .Build();
            var result = await Task.Run(upgrader.PerformUpgrade, ct);
            ThrowIfFailed(result, $"PostgreSQL database '{lockConnection.Database}'");
        }
        finally
        {
            // Explicitly: a pooled connection keeps its session locks until it is reused. A broken one has lost the
            // lock already.
            if (lockConnection.State == ConnectionState.Open)
                await lockConnection.ExecuteAsync(new CommandDefinition("select pg_advisory_unlock(@key)",
                    new { key = PostgresLockKey },
                    cancellationToken: CancellationToken.None));
        }
    }

    static void ThrowIfFailed(DatabaseUpgradeResult result, string where)
    {
        if (!result.Successful)
            throw new InvalidOperationException(
                $"Migrating the run registry in {where} failed in script " +
                    $"'{result.ErrorScript?.Name ?? "(before any script)"}': " +
                $"{result.Error?.Message} (expected a reachable, writable database; the transaction was rolled back).",
                    result.Error);
    }
}
