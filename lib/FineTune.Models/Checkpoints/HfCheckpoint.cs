// A Hugging Face model directory: config.json plus model.safetensors, or shards listed in model.safetensors.index.json.
// Tensor names are Hugging Face's own (model.layers.N.self_attn.q_proj.weight, ...).
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FineTune.Models.Checkpoints;

public sealed class HfCheckpoint : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    readonly Dictionary<string, SafeTensorsFile> _fileOf;
    readonly List<SafeTensorsFile> _files;

    public string Directory { get; }
    public LlamaConfig Config { get; }
    public IEnumerable<TensorInfo> Tensors => _files.SelectMany(f => f.Tensors);

    HfCheckpoint(string directory, LlamaConfig config, List<SafeTensorsFile> files,
        Dictionary<string, SafeTensorsFile> fileOf)
    {
        Directory = directory;
        Config = config;
        _files = files;
        _fileOf = fileOf;
    }

    public static bool IsCheckpointDirectory(string path) =>
        System.IO.Directory.Exists(path) && File.Exists(System.IO.Path.Combine(path, ConfigFile));

    public static HfCheckpoint Open(string directory)
    {
        if (!System.IO.Directory.Exists(directory))
            throw new ModelFormatException($"model directory not found: '{directory}'.");
        var config = LlamaConfig.Load(System.IO.Path.Combine(directory, ConfigFile));
        var files = new List<SafeTensorsFile>();
        var fileOf = new Dictionary<string, SafeTensorsFile>();
        try
        {
            var indexPath = System.IO.Path.Combine(directory, IndexFile);
            var singlePath = System.IO.Path.Combine(directory, SingleFile);
            if (File.Exists(indexPath))
            {
                foreach (var (tensor, shard) in ReadWeightMap(indexPath))
                {
                    var file = files.FirstOrDefault(f => System.IO.Path.GetFileName(f.Path) == shard);
                    if (file is null)
                    {
                        file = SafeTensorsFile.Open(System.IO.Path.Combine(directory, shard));
                        files.Add(file);
                    }
                    if (!file.Contains(tensor))
                        throw new ModelFormatException($"{indexPath}: weight_map says '{tensor}' is in '{shard}', " +
                            $"but that file has no such tensor.");
                    fileOf[tensor] = file;
                }
            }
            else if (File.Exists(singlePath))
            {
                var file = SafeTensorsFile.Open(singlePath);
                files.Add(file);
                foreach (var t in file.Tensors)
                    fileOf[t.Name] = file;
            }
            else
            {
                throw new ModelFormatException($"{directory}: neither {SingleFile} nor {IndexFile} found (only " +
                    $"safetensors checkpoints are read).");
            }
        }
        catch
        {
            foreach (var f in files)
                f.Dispose();
            throw;
        }
        return new HfCheckpoint(directory, config, files, fileOf);
    }

    static IEnumerable<(string Tensor, string Shard)> ReadWeightMap(string indexPath)
    {
        JsonObject? map;
        try
        {
            map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"] as JsonObject;
        }
        catch (JsonException e)
        {
            throw new ModelFormatException($"{indexPath}: not valid JSON ({e.Message}).");
        }
        if (map is null)
            throw new ModelFormatException($"{indexPath}: field 'weight_map' is missing (expected tensor name -> " +
                $"shard file).");
        foreach (var (tensor, shard) in map)
        {
            var file = shard?.GetValue<string>()
                ?? throw new ModelFormatException($"{indexPath}: weight_map['{tensor}'] is not a file name.");
            if (file.Contains('/') || file.Contains('\\') || file.Contains(".."))
                throw new ModelFormatException($"{indexPath}: weight_map['{tensor}'] = '{file}' must be a file name " +
                    $"in the same directory.");
            yield return (tensor, file);
        }
    }

    public bool Contains(string name) => _fileOf.ContainsKey(name);

    public TensorInfo Describe(string name) => FileOf(name).Describe(name);

    public TensorData Read(string name) => FileOf(name).Read(name);

    SafeTensorsFile FileOf(string name) => _fileOf.TryGetValue(name, out var file) ? file
        : throw new ModelFormatException($"{Directory}: tensor '{name}' is missing from the checkpoint.");

    /// <summary>
    /// Writes config.json and the tensors, as one model.safetensors or, past <paramref name="maxShardBytes"/>, as
    /// model-0000i-of-0000n.safetensors shards with model.safetensors.index.json. Tensors are fetched one at a time.
    /// </summary>
    public static void Save(string directory, LlamaConfig config, IReadOnlyList<TensorInfo> tensors,
        Func<TensorInfo, byte[]> data,
        long maxShardBytes = 5L << 30)
    {
        System.IO.Directory.CreateDirectory(directory);
        var shards = new List<List<TensorInfo>> { new() };
        long current = 0;
        foreach (var t in tensors)
        {
            if (current > 0 && current + t.ByteCount > maxShardBytes)
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(t);
            current += t.ByteCount;
        }
        var metadata = new Dictionary<string, string> { ["format"] = "pt" };
        foreach (var stale in System.IO.Directory.GetFiles(directory, "model*.safetensors*"))
            File.Delete(stale);
        if (shards.Count == 1)
        {
            SafeTensorsWriter.Write(System.IO.Path.Combine(directory, SingleFile), shards[0], data, metadata);
        }
        else
        {
            var weightMap = new JsonObject();
            for (int i = 0; i < shards.Count; i++)
            {
                var name = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                SafeTensorsWriter.Write(System.IO.Path.Combine(directory, name), shards[i], data, metadata);
                foreach (var t in shards[i])
                    weightMap[t.Name] = name;
            }
            var index = new JsonObject
            {
                ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(t => t.ByteCount) },
                ["weight_map"] = weightMap,
            };
            File.WriteAllText(System.IO.Path.Combine(directory, IndexFile),
                index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
        config.Save(System.IO.Path.Combine(directory, ConfigFile));
    }

    public void Dispose()
    {
        foreach (var f in _files)
            f.Dispose();
    }
}
