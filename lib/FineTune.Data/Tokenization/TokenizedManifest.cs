// manifest.json of a tokenized dataset: what produced the shards (tokenizer files and hashes, template,
// options) and what they hold (counts per split, shard hashes). No timestamps, so reruns are byte-identical.
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace FineTune.Data.Tokenization;

public sealed record FileDigest(string Name, long Bytes, string Sha256);

public sealed record SplitManifest(
    [property: JsonConverter(typeof(JsonStringEnumConverter<ShardKind>))] ShardKind Kind,
    TokenizeStats Counts, IReadOnlyList<ShardInfo> Shards);

public sealed record TokenizedManifest
{
    public const string FileName = "manifest.json";
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase
    };

    public int FormatVersion { get; init; } = 1;
    public required IReadOnlyList<FileDigest> TokenizerFiles { get; init; }
    /// <summary>Chat template kind used, or null when there was none (text-only data).</summary>
    public string? Template { get; init; }
    public required int VocabSize { get; init; }
    public required string TokenDtype { get; init; }
    public required TokenizeOptions Options { get; init; }
    public required TokenizeStats Totals { get; init; }
    /// <summary>train / validation / test, in that order, for the splits that were present.</summary>
    public required IReadOnlyDictionary<string, SplitManifest> Splits { get; init; }
    /// <summary>Chat turn boundaries where a token spanned two turns (see
    /// ExampleTokenizer.InexactBoundaries).</summary>
    public long InexactBoundaries { get; init; }

    public void Write(string outDir)
    {
        string path = Path.Combine(outDir, FileName), tmp = path + ".tmp";
        File.WriteAllBytes(tmp, JsonSerializer.SerializeToUtf8Bytes(this, Json));
        File.Move(tmp, path, overwrite: true);
    }

    public static TokenizedManifest Read(string outDir)
    {
        string path = Path.Combine(outDir, FileName);
        try
        {
            return JsonSerializer.Deserialize<TokenizedManifest>(File.ReadAllBytes(path),
                Json) ?? throw new InvalidDataException($"{path}: null manifest");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a tokenized-dataset manifest ({e.Message})", e);
        }
    }

    /// <summary>The tokenizer files of a model directory (or a tokenizer file and the configs beside it), by name with
    /// SHA-256.</summary>
    public static IReadOnlyList<FileDigest> DigestTokenizer(string fileOrDirectory)
    {
        string[] configs = ["tokenizer_config.json", "special_tokens_map.json", "generation_config.json"];
        IEnumerable<string> files;
        if (Directory.Exists(fileOrDirectory))
        {
            string[] known = ["tokenizer.json", "tokenizer.model", "vocab.json", "merges.txt", .. configs];
            files = Directory.EnumerateFiles(fileOrDirectory).Where(f =>
            {
                string n = Path.GetFileName(f);
                return known.Contains(n) || n.EndsWith(".tiktoken", StringComparison.Ordinal) || n.StartsWith("tok",
                    StringComparison.Ordinal) && n.EndsWith(".bin", StringComparison.Ordinal);
            });
        }
        else
        {
            string dir = Path.GetDirectoryName(Path.GetFullPath(fileOrDirectory))!;
            files = [fileOrDirectory, .. configs.Select(c => Path.Combine(dir, c)).Where(File.Exists)];
        }
        return [.. files.Distinct().Select(f =>
        {
            using var s = File.OpenRead(f);
            return new FileDigest(Path.GetFileName(f), s.Length, Convert.ToHexStringLower(SHA256.HashData(s)));
        }).OrderBy(d => d.Name, StringComparer.Ordinal)];
    }
}
