// What differs between the registry's two dialects once the schema exists: how a time is bound (timestamptz vs
// fixed-width ISO-8601 text) and PostgreSQL's row locks (SQLite needs none: BEGIN IMMEDIATE already lets one writer in
// at a time).
using System.Globalization;

namespace FineTune.Registry;

internal sealed class SqlDialect
{
    // Fixed width, so SQLite's text comparison orders times correctly (lease_until < @now).
    public const string SqliteTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static SqlDialect Sqlite { get; } = new(isPostgres: false);
    public static SqlDialect Postgres { get; } = new(isPostgres: true);

    SqlDialect(bool isPostgres) => IsPostgres = isPostgres;

    public bool IsPostgres { get; }

    /// <summary>Appended to a select whose row the transaction is about to change.</summary>
    public string ForUpdate => IsPostgres ? " for update" : "";

    /// <summary>Appended to a queue's select so that concurrent claimers pick different rows.</summary>
    public string ForUpdateSkipLocked => IsPostgres ? " for update skip locked" : "";

    /// <summary>A UTC time as this dialect's parameter value.</summary>
    public object At(DateTimeOffset time) =>
        IsPostgres ? time.ToUniversalTime() : time.UtcDateTime.ToString(SqliteTimeFormat, CultureInfo.InvariantCulture);
}
