// Safetensors reader and writer (https://github.com/huggingface/safetensors format): an 8-byte little-endian header
// length, a JSON header of name -> {dtype, shape, data_offsets}, then the tensor bytes. Reads one tensor at a time,
// so memory is bounded by the largest tensor, not the file.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Models.Checkpoints;

public sealed class SafeTensorsFile : IDisposable
{
    const long MaxHeaderBytes = 100_000_000; // the format's own limit

    readonly FileStream _stream;
    readonly long _dataStart;
    readonly Dictionary<string, (TensorInfo Info, long Begin, long End)> _entries;

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IEnumerable<TensorInfo> Tensors => _entries.Values.OrderBy(e => e.Begin).Select(e => e.Info);
    public bool Contains(string name) => _entries.ContainsKey(name);

    SafeTensorsFile(string path, FileStream stream, long dataStart,
        Dictionary<string, (TensorInfo, long, long)> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _stream = stream;
        _dataStart = dataStart;
        _entries = entries;
        Metadata = metadata;
    }

    public static SafeTensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new ModelFormatException($"safetensors file not found: '{path}'.");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16,
            FileOptions.RandomAccess);
        try
        {
            return Parse(path, stream);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    static SafeTensorsFile Parse(string path, FileStream stream)
    {
        long fileLength = stream.Length;
        Span<byte> lengthBytes = stackalloc byte[8];
        if (fileLength < 8 || stream.ReadAtLeast(lengthBytes, 8, throwOnEndOfStream: false) < 8)
            throw new ModelFormatException($"{path}: truncated safetensors file ({fileLength} bytes; the 8-byte " +
                $"header length is missing).");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes || (long)headerLength > fileLength - 8)
            throw new ModelFormatException($"{path}: corrupt safetensors header: it claims {headerLength} bytes but " +
                $"the file has {fileLength - 8} after the length field.");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        JsonObject header;
        try
        {
            header = JsonNode.Parse(headerBytes) as JsonObject
                ?? throw new ModelFormatException($"{path}: corrupt safetensors header: expected a JSON object.");
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{path}: corrupt safetensors header: not valid JSON ({e.Message}).");
        }

        long dataStart = 8 + (long)headerLength, dataLength = fileLength - dataStart;
        var entries = new Dictionary<string, (TensorInfo, long, long)>();
        var metadata = new Dictionary<string, string>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                if (node is JsonObject meta)
                    foreach (var (key, value) in meta)
                        metadata[key] = value?.GetValue<string>() ?? "";
                continue;
            }
            entries[name] = ParseEntry(path, name, node, dataLength);
        }
        CheckNoOverlap(path, entries.Values.Select(e => (e.Item1.Name, e.Item2, e.Item3)));
        return new SafeTensorsFile(path, stream, dataStart, entries, metadata);
    }

    static (TensorInfo, long, long) ParseEntry(string path, string name, JsonNode? node, long dataLength)
    {
        string Where(string field) => $"{path}: tensor '{name}', field '{field}'";
        if (node is not JsonObject entry)
            throw new ModelFormatException($"{path}: tensor '{name}': expected an object with dtype, shape and " +
                $"data_offsets.");
        var dtypeName = entry["dtype"]?.GetValue<string>()
            ?? throw new ModelFormatException($"{Where("dtype")} is missing.");
        if (!DTypes.TryParse(dtypeName, out var dtype))
            throw new ModelFormatException($"{Where("dtype")}: '{dtypeName}' is not supported (F64, F32, F16, BF16, " +
                $"I64, I32, I16, I8, U8, BOOL).");
        if (entry["shape"] is not JsonArray shapeNode)
            throw new ModelFormatException($"{Where("shape")} is missing.");
        var shape = shapeNode.Select(x => x!.GetValue<long>()).ToArray();
        if (shape.Any(x => x < 0))
            throw new ModelFormatException($"{Where("shape")} has a negative dimension.");
        if (entry["data_offsets"] is not JsonArray { Count: 2 } offsets)
            throw new ModelFormatException($"{Where("data_offsets")}: expected [begin, end].");
        long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
        var info = new TensorInfo(name, dtype, shape);
        if (begin < 0 || end < begin || end > dataLength)
            throw new ModelFormatException($"{Where("data_offsets")}: [{begin}, {end}] lies outside the " +
                $"{dataLength} data bytes (truncated file?).");
        if (end - begin != info.ByteCount)
            throw new ModelFormatException($"{Where("data_offsets")}: {end - begin} bytes, but {dtype.Name()} " +
                $"{info.ShapeText} needs {info.ByteCount}.");
        return (info, begin, end);
    }

    static void CheckNoOverlap(string path, IEnumerable<(string Name, long Begin, long End)> entries)
    {
        (string Name, long Begin, long End)? previous = null;
        foreach (var entry in entries.OrderBy(e => e.Begin).ThenBy(e => e.End))
        {
            if (previous is { } p && entry.Begin < p.End)
                throw new ModelFormatException($"{path}: tensors '{p.Name}' and '{entry.Name}' overlap in the data " +
                    $"section.");
            previous = entry;
        }
    }

    public TensorInfo Describe(string name) => Find(name).Info;

    public TensorData Read(string name)
    {
        var (info, begin, end) = Find(name);
        if (end - begin > Array.MaxLength)
            throw new ModelFormatException($"{Path}: tensor '{name}' is larger than 2 GB; not supported.");
        var bytes = new byte[end - begin];
        RandomAccess.Read(_stream.SafeFileHandle, bytes, _dataStart + begin);
        return new TensorData(info, bytes);
    }

    (TensorInfo Info, long Begin, long End) Find(string name) =>
        _entries.TryGetValue(name, out var entry) ? entry
            : throw new ModelFormatException($"{Path}: tensor '{name}' not found.");

    public void Dispose() => _stream.Dispose();
}

public static class SafeTensorsWriter
{
    /// <summary>Writes tensors in the order given; <paramref name="data"/> is asked for one tensor at a time.</summary>
    public static void Write(string path, IReadOnlyList<TensorInfo> tensors, Func<TensorInfo, byte[]> data,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
            header["__metadata__"] = new JsonObject(metadata.Select(kv => KeyValuePair.Create(kv.Key,
                (JsonNode?)kv.Value)));
        long offset = 0;
        foreach (var t in tensors)
        {
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType.Name(),
                ["shape"] = new JsonArray(t.Shape.Select(x => (JsonNode)x).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.ByteCount),
            };
            offset += t.ByteCount;
        }
        var headerText = header.ToJsonString();
        int padding = (8 - Encoding.UTF8.GetByteCount(headerText) % 8) % 8; // keep the data 8-byte aligned
        var headerBytes = Encoding.UTF8.GetBytes(headerText + new string(' ', padding));

        var temporary = path + ".partial";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
            stream.Write(length);
            stream.Write(headerBytes);
            foreach (var t in tensors)
            {
                var bytes = data(t);
                if (bytes.LongLength != t.ByteCount)
                    throw new ArgumentException($"tensor '{t.Name}': {bytes.LongLength} bytes given, " +
                        $"{t.DType.Name()} {t.ShapeText} needs {t.ByteCount}.");
                stream.Write(bytes);
            }
        }
        // a crash never leaves a half-written checkpoint under the real name
        File.Move(temporary, path, overwrite: true);
    }

    public static void Write(string path, IReadOnlyList<TensorData> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var byName = tensors.ToDictionary(t => t.Name);
        Write(path, tensors.Select(t => t.Info).ToList(), t => byName[t.Name].Bytes, metadata);
    }
}
