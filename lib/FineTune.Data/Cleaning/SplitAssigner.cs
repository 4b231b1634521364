// Assigns train/validation/test by a seeded hash of the normalised prompt (non-assistant turns), so one prompt
// never lands in two splits. Near-duplicates are linked first (union-find over prompt keys); a linked group takes
// the split of its smallest key, which makes the result independent of the order in which records arrive.
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace FineTune.Data.Cleaning;

public enum DataSplit { Train, Validation, Test }

public sealed record SplitOptions
{
    public double Train { get; init; } = 0.8;
    public double Validation { get; init; } = 0.1;
    public double Test { get; init; } = 0.1;
    /// <summary>Changes which prompts go where; the same seed gives the same splits everywhere.</summary>
    public string Seed { get; init; } = "";

    public void Validate()
    {
        foreach (var (name, value) in new[] { ("Train", Train), ("Validation", Validation), ("Test", Test) })
            if (!double.IsFinite(value) || value < 0 || value > 1)
                throw new ArgumentOutOfRangeException(name, value,
                    $"Split:{name} must be a fraction in [0, 1], got {value}.");
        var sum = Train + Validation + Test;
        if (Math.Abs(sum - 1) > 1e-9)
            throw new ArgumentException(
                $"Split fractions must sum to 1: Train {Train} + Validation {Validation} + Test {Test} = {sum}.");
        ArgumentNullException.ThrowIfNull(Seed);
    }
}

public sealed class SplitAssigner
{
    readonly SplitOptions _options;
    readonly Dictionary<long, ulong> _keyOfLine = [];
    readonly Dictionary<ulong, ulong> _parent = [];
    bool _assigning;

    public SplitAssigner(SplitOptions? options = null)
    {
        _options = options ?? new SplitOptions();
        _options.Validate();
    }

    /// <summary>Registers a record's prompt key under its line; Link and Assign need it.</summary>
    public void Add(DataRecord record)
    {
        var key = PromptKey(record);
        if (_keyOfLine.TryGetValue(record.Line, out var existing) && existing != key)
            throw new ArgumentException($"line {record.Line} was added before with a different prompt (lines must " +
                $"be unique within a source).", nameof(record));
        _keyOfLine[record.Line] = key;
        _parent.TryAdd(key, key);
    }

    /// <summary>Puts <paramref name="line"/> in the same split as <paramref name="withLine"/> (e.g. a near-duplicate of
    /// it).</summary>
    public void Link(long line, long withLine)
    {
        if (_assigning)
            throw new InvalidOperationException("Link every near-duplicate before the first Assign: an assigned " +
                "split cannot move.");
        var a = Find(KeyOf(line));
        var b = Find(KeyOf(withLine));
        if (a == b)
            return;
        // the root is the group's smallest key
        if (a < b)
            _parent[b] = a;
        else
            _parent[a] = b;
    }

    /// <summary>The record's split: that of its linked group, or of its own prompt. Adds the record when
    /// needed.</summary>
    public DataSplit Assign(DataRecord record)
    {
        _assigning = true;
        if (!_keyOfLine.ContainsKey(record.Line))
            Add(record);
        return SplitOfKey(Find(_keyOfLine[record.Line]));
    }

    /// <summary>The split the prompt alone decides, ignoring links.</summary>
    public DataSplit SplitOfPrompt(DataRecord record) => SplitOfKey(PromptKey(record));

    DataSplit SplitOfKey(ulong key)
    {
        var u = StableHash.Unit(StableHash.Mix(key));
        if (u < _options.Train)
            return DataSplit.Train;
        return u < _options.Train + _options.Validation ? DataSplit.Validation : DataSplit.Test;
    }

    ulong PromptKey(DataRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var hash = SHA256.HashData(StableHash.Utf8(_options.Seed + "\u0000" + RecordText.PromptText(record)));
        return BinaryPrimitives.ReadUInt64BigEndian(hash);
    }

    ulong KeyOf(long line) => _keyOfLine.TryGetValue(line, out var key)
        ? key
        : throw new ArgumentException($"line {line} was never added to the split assigner (call Add first).",
            nameof(line));

    ulong Find(ulong key)
    {
        var root = key;
        while (_parent[root] != root)
            root = _parent[root];
        // path compression
        while (_parent[key] != root)
            (key, _parent[key]) = (_parent[key], root);
        return root;
    }
}
