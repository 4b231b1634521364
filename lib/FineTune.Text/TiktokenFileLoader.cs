// Reads *.tiktoken files (lines of "base64-token rank"), including Meta's tiktoken-format tokenizer.model.
// The pre-tokenizer regex is not stored in the file; it is chosen from the file name (cl100k-style by default).
using System.Text;

namespace FineTune.Text;

internal static class TiktokenFileLoader
{
    private const string Cl100kPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    private const string O200kPattern =
        @"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Whether the file starts like a tiktoken rank file rather than a protobuf.</summary>
    public static bool LooksLikeTiktoken(string path)
    {
        using var reader = new StreamReader(path, Encoding.ASCII);
        var buffer = new char[256];
        int n = reader.Read(buffer, 0, buffer.Length);
        string head = new(buffer, 0, n);
        int nl = head.IndexOf('\n');
        return nl > 0 && TryParseLine(head[..nl].TrimEnd('\r'), out _, out _);
    }

    public static TiktokenBackedTokenizer Load(string path, TokenizerSettings settings)
    {
        var ranks = new List<(byte[], int)>();
        int lineNo = 0;
        foreach (string raw in File.ReadLines(path))
        {
            lineNo++;
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
                continue;
            if (!TryParseLine(line, out var bytes, out int rank))
                throw new TokenizerLoadException($"{path}: line {lineNo} is not \"<base64 token> <rank>\"");
            ranks.Add((bytes, rank));
        }
        if (ranks.Count == 0)
            throw new TokenizerLoadException($"{path}: no \"<base64 token> <rank>\" lines found");
        string name = Path.GetFileName(path).ToLowerInvariant();
        string pattern = name.Contains("o200k") ? O200kPattern
            : name.Contains("p50k") || name.Contains("r50k") || name.Contains("gpt2")
                ? TiktokenBackedTokenizer.Gpt2Pattern
            : Cl100kPattern;
        return new TiktokenBackedTokenizer(ranks, pattern, settings.AddedTokensDecoder, null,
            b => Encoding.UTF8.GetString(b));
    }

    private static bool TryParseLine(string line, out byte[] bytes, out int rank)
    {
        bytes = [];
        rank = 0;
        int space = line.IndexOf(' ');
        if (space <= 0 || !int.TryParse(line.AsSpan(space + 1), out rank))
            return false;
        try
        {
            bytes = Convert.FromBase64String(line[..space]);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
