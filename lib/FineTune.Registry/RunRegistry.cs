// The run registry's entry point: migrates the schema and opens sessions (one connection, one transaction) over SQLite
// or PostgreSQL. Usage: await using var registry = RunRegistry.Create(options); await registry.MigrateAsync(ct);
//   await registry.WriteAsync(async s => { if (await s.TryMarkProcessedAsync(consumer, id, ct)) ... }, ct);
using System.Data;
using System.Data.Common;
using Dapper;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace FineTune.Registry;

public sealed class RunRegistry : IAsyncDisposable
{
    // Every SQLite connection: wait up to 15 s for the write lock rather than fail with SQLITE_BUSY; enforce foreign
    // keys.
    internal const string SqlitePragmas = "pragma busy_timeout = 15000; pragma foreign_keys = on;";

    readonly string _connectionString;
    readonly NpgsqlDataSource? _postgres;
    readonly SqlDialect _dialect;
    readonly TimeProvider _time;

    RunRegistry(string connectionString, NpgsqlDataSource? postgres, TimeProvider time)
    {
        _connectionString = connectionString;
        _postgres = postgres;
        _dialect = postgres is null ? SqlDialect.Sqlite : SqlDialect.Postgres;
        _time = time;
    }

    /// <summary>A registry over <paramref name="options"/>; <paramref name="time"/> stamps rows and judges leases
    /// (<see cref="TimeProvider.System"/> unless a test moves it). Connects nothing until used.</summary>
    public static RunRegistry Create(RegistryOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
            throw new ArgumentException(
                "Registry connection string is empty (expected Registry:ConnectionString, e.g. 'Data " +
                    "Source=registry.db').", nameof(options));
        time ??= TimeProvider.System;
        switch (options.Provider)
        {
            case RegistryOptions.SqliteProvider:
                var sqlite = new SqliteConnectionStringBuilder(options.ConnectionString) { ForeignKeys = true };
                if (sqlite.DataSource is "" or ":memory:" || sqlite.Mode == SqliteOpenMode.Memory)
                    throw new ArgumentException($"SQLite registry '{options.ConnectionString}' is in memory, which " +
                        $"each session " +
                        "would see empty (expected a file: 'Data Source=path/registry.db').", nameof(options));
                sqlite.DefaultTimeout = Math.Max(sqlite.DefaultTimeout, 30);
                return new RunRegistry(sqlite.ToString(), postgres: null, time);
            case RegistryOptions.PostgresProvider:
                return new RunRegistry(options.ConnectionString, NpgsqlDataSource.Create(options.ConnectionString),
                    time);
            default:
                throw new ArgumentException($"Registry provider '{options.Provider}' is not supported " +
                    $"(expected '{RegistryOptions.SqliteProvider}' or '{RegistryOptions.PostgresProvider}').",
                        nameof(options));
        }
    }

    /// <summary>Creates or upgrades the schema; idempotent, and safe when several processes start at once.</summary>
    public Task MigrateAsync(CancellationToken ct = default) =>
        _postgres is null
            ? RegistryMigrations.SqliteAsync(_connectionString, ct)
            : RegistryMigrations.PostgresAsync(_postgres, _connectionString, ct);

    /// <summary>One connection and one write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: read committed).
    /// Disposing it without <see cref="IRegistrySession.CommitAsync"/> rolls back.</summary>
    public async Task<IRegistrySession> BeginAsync(CancellationToken ct = default)
    {
        DbConnection connection = _postgres is null ? new SqliteConnection(_connectionString)
            : _postgres.CreateConnection();
        try
        {
            await connection.OpenAsync(ct);
            DbTransaction transaction;
            if (connection is SqliteConnection sqlite)
            {
                await sqlite.ExecuteAsync(new CommandDefinition(SqlitePragmas, cancellationToken: ct));
                transaction = sqlite.BeginTransaction(deferred: false);
            }
            else
            {
                transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, ct);
            }
            return new RegistrySession(connection, transaction, _dialect, _time);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Begins a session, runs <paramref name="read"/>, commits and returns its result. The same transaction as
    /// <see cref="WriteAsync{T}"/> (a callback may write, and may commit itself): the name says what the caller
    /// means.</summary>
    public Task<T> ReadAsync<T>(Func<IRegistrySession, Task<T>> read,
        CancellationToken ct = default) => WriteAsync(read, ct);

    /// <summary>Begins a session, runs <paramref name="write"/> and commits; an exception rolls everything
    /// back.</summary>
    public async Task WriteAsync(Func<IRegistrySession, Task> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        await using var session = await BeginAsync(ct);
        await write(session);
        await session.CommitAsync(ct);
    }

    /// <summary>As <see cref="WriteAsync(Func{IRegistrySession, Task}, CancellationToken)"/>, returning what
    /// <paramref name="write"/> returns.</summary>
    public async Task<T> WriteAsync<T>(Func<IRegistrySession, Task<T>> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        await using var session = await BeginAsync(ct);
        var result = await write(session);
        await session.CommitAsync(ct);
        return result;
    }

    public ValueTask DisposeAsync() => _postgres?.DisposeAsync() ?? ValueTask.CompletedTask;
}
