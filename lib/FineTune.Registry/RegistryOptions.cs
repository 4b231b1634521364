// Where the run registry lives: an embedded SQLite file (single process, tools/ft, tests) or a PostgreSQL database
// (the services), from the "Registry" configuration section. RunRegistry.Create checks it.
using Microsoft.Data.Sqlite;

namespace FineTune.Registry;

/// <param name="Provider"><c>sqlite</c> or <c>postgres</c>.</param>
/// <param name="ConnectionString">A Microsoft.Data.Sqlite or an Npgsql connection string, as <paramref
/// name="Provider"/> says.</param>
public sealed record RegistryOptions(string Provider, string ConnectionString)
{
    public const string SqliteProvider = "sqlite";
    public const string PostgresProvider = "postgres";

    /// <summary>A registry in the SQLite file at <paramref name="path"/> (created, with its folder, by
    /// MigrateAsync).</summary>
    public static RegistryOptions Sqlite(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        return new(SqliteProvider, new SqliteConnectionStringBuilder { DataSource = path }.ToString());
    }

    /// <summary>A registry in the PostgreSQL database that <paramref name="connectionString"/> names.</summary>
    public static RegistryOptions Postgres(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return new(PostgresProvider, connectionString);
    }
}
