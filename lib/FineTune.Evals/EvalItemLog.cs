// Resumable evaluation: every scored item is appended to a JSON Lines log as soon as its batch is done, under a scope
// that names the suite, its prompt-format version, the model and the settings that change an item's result. Running
// the same evaluation again with the same log skips the items it holds, so an interrupted suite continues where it
// stopped and a finished one is re-scored from the log alone. A torn last line (a kill mid-write) is ignored.
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FineTune.Evals;

public sealed class EvalItemLog : IDisposable
{
    readonly Dictionary<string, Dictionary<string, JsonElement>> _scopes = new(StringComparer.Ordinal);
    readonly StreamWriter _writer;
    readonly Lock _lock = new();

    EvalItemLog(StreamWriter writer) => _writer = writer;

    public string Path { get; private init; } = "";

    /// <summary>Opens (or creates) the log at <paramref name="path"/> and reads what earlier runs scored.</summary>
    public static EvalItemLog Open(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var scopes = new Dictionary<string, Dictionary<string, JsonElement>>(StringComparer.Ordinal);
        if (File.Exists(path))
            foreach (var line in File.ReadLines(path))
            {
                if (!TryParse(line, out var scope, out var item, out var value))
                    continue;
                if (!scopes.TryGetValue(scope, out var items))
                    scopes[scope] = items = new(StringComparer.Ordinal);
                items[item] = value;
            }
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null)
            Directory.CreateDirectory(directory);
        var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        var log = new EvalItemLog(new StreamWriter(stream, new UTF8Encoding(false))) { Path = path };
        // new lines start on a line of their own
        if (EndsTorn(path))
        {
            log._writer.WriteLine();
            log._writer.Flush();
        }
        foreach (var (scope, items) in scopes)
            log._scopes[scope] = items;
        return log;
    }

    /// <summary>The items of one suite run: <paramref name="settings"/> lists what else changes an item's result
    /// (shots, generation budget, template, the data file's hash …).</summary>
    public SuiteItems Scope(string suite, string formatVersion, string model, string settings)
    {
        var key =
            Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{suite}\n{formatVersion}\n{model}\n{settings}")))[..24];
        lock (_lock)
        {
            if (!_scopes.TryGetValue(key, out var items))
                _scopes[key] = items = new(StringComparer.Ordinal);
            return new SuiteItems(this, key, items);
        }
    }

    /// <summary>A short hash of files as they are now (path, size, modification time; every file of a directory), so
    /// a model or data file changed in place starts a new scope. Null paths are skipped.</summary>
    public static string Fingerprint(params string?[] paths)
    {
        var text = new StringBuilder();
        foreach (var path in paths)
        {
            if (path is null)
                continue;
            var full = System.IO.Path.GetFullPath(path);
            var files = Directory.Exists(full)
                ? Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                : (IEnumerable<string>)[full];
            foreach (var file in files)
            {
                var info = new FileInfo(file);
                text.Append(file).Append('|').Append(info.Exists ? info.Length : -1).Append('|')
                    .Append(info.Exists ? info.LastWriteTimeUtc.Ticks : 0).Append('\n');
            }
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..16];
    }

    internal void Append(string scope, string item, JsonElement value, Dictionary<string, JsonElement> items)
    {
        var line = JsonSerializer.Serialize(new LogLine(scope, item, value));
        lock (_lock)
        {
            items[item] = value;
            _writer.WriteLine(line);
            _writer.Flush();
        }
    }

    internal int CountOf(Dictionary<string, JsonElement> items)
    {
        lock (_lock)
            return items.Count;
    }

    internal bool TryGet(Dictionary<string, JsonElement> items, string item, out JsonElement value)
    {
        lock (_lock)
            return items.TryGetValue(item, out value);
    }

    static bool EndsTorn(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (file.Length == 0)
            return false;
        file.Seek(-1, SeekOrigin.End);
        return file.ReadByte() != '\n';
    }

    static bool TryParse(string line, out string scope, out string item, out JsonElement value)
    {
        (scope, item, value) = ("", "", default);
        if (string.IsNullOrWhiteSpace(line))
            return false;
        try
        {
            var parsed = JsonSerializer.Deserialize<LogLine>(line);
            if (parsed is null || parsed.Scope.Length == 0 || parsed.Item is null)
                return false;
            (scope, item, value) = (parsed.Scope, parsed.Item, parsed.Value.Clone());
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    public void Dispose() => _writer.Dispose();

    sealed record LogLine(string Scope, string Item, JsonElement Value);
}

/// <summary>One suite's scored items in an <see cref="EvalItemLog"/>: look up before scoring, add after.</summary>
public sealed class SuiteItems
{
    readonly EvalItemLog _log;
    readonly string _scope;
    readonly Dictionary<string, JsonElement> _items;

    internal SuiteItems(EvalItemLog log, string scope, Dictionary<string, JsonElement> items) =>
        (_log, _scope, _items) = (log, scope, items);

    /// <summary>Items the log held for this scope before this run and since.</summary>
    public int Count => _log.CountOf(_items);

    /// <summary>Items this run took from the log instead of scoring them.</summary>
    public int Reused { get; private set; }

    public bool TryGet<T>(string item, out T value)
    {
        value = default!;
        if (!_log.TryGet(_items, item, out var json))
            return false;
        try
        {
            value = json.Deserialize<T>()!;
        }
        catch (JsonException)
        {
            return false;
        }
        if (value is null)
            return false;
        Reused++;
        return true;
    }

    public void Add<T>(string item, T value) =>
        _log.Append(_scope, item, JsonSerializer.SerializeToElement(value), _items);
}
