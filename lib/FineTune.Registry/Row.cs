// One result row by column name, converted by hand: Dapper's dynamic rows hold what each provider returns (SQLite text
// and Int64, Npgsql DateTime and Int32), and no global Dapper type handler is registered for Guid or DateTimeOffset.
using System.Globalization;
using System.Text.Json;
using FineTune.Contracts;

namespace FineTune.Registry;

internal readonly struct Row(IDictionary<string, object?> values)
{
    public static Row Of(object dapperRow) => new((IDictionary<string, object?>)dapperRow);

    object? Raw(string column) =>
        values.TryGetValue(column, out var value)
            ? value is DBNull ? null : value
            : throw new InvalidOperationException($"Registry query returned no column '{column}' (expected it in " +
                $"the select list).");

    object Required(string column) =>
        Raw(column)
            ?? throw new InvalidOperationException($"Registry column '{column}' is null (expected a value; is the " +
            $"schema migrated?).");

    public string Text(string column) => (string)Required(column);
    public string? TextOrNull(string column) => (string?)Raw(column);
    public Guid Id(string column) => Guid.ParseExact(Text(column), "D");
    public int Int(string column) => Convert.ToInt32(Required(column), CultureInfo.InvariantCulture);
    public int? IntOrNull(string column) =>
        Raw(column) is { } v ? Convert.ToInt32(v, CultureInfo.InvariantCulture) : null;
    public long Long(string column) => Convert.ToInt64(Required(column), CultureInfo.InvariantCulture);
    public double Double(string column) => Convert.ToDouble(Required(column), CultureInfo.InvariantCulture);
    public bool Bool(string column) => Convert.ToBoolean(Required(column), CultureInfo.InvariantCulture);
    public DateTimeOffset Time(string column) => ToTime(Required(column), column);
    public DateTimeOffset? TimeOrNull(string column) => Raw(column) is { } v ? ToTime(v, column) : null;
    public IReadOnlyList<string> Strings(string column) => JsonSerializer.Deserialize<string[]>(Text(column)) ?? [];

    /// <summary>An <see cref="ArtifactRef"/> flattened into <c>{prefix}bucket, {prefix}key, {prefix}sha256,
    /// {prefix}bytes</c>.</summary>
    public ArtifactRef Ref(string prefix = "") =>
        new(Text(prefix + "bucket"), Text(prefix + "key"), Text(prefix + "sha256"), Long(prefix + "bytes"));

    static DateTimeOffset ToTime(object value, string column) => value switch
    {
        string text => DateTimeOffset.ParseExact(text, SqlDialect.SqliteTimeFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal),
        DateTime utc => new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)),
        DateTimeOffset time => time.ToUniversalTime(),
        _ => throw new InvalidOperationException(
            $"Registry column '{column}' holds a {value.GetType().Name} (expected a time: ISO-8601 text or " +
                $"timestamptz)."),
    };
}
