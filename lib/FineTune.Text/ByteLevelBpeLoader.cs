// Reads byte-level BPE tokenizers (tokenizer.json, or vocab.json + merges.txt) into a TiktokenBackedTokenizer.
// Ranks are the vocabulary ids: for GPT-2 / Llama 3 / Qwen2 files the id of a merge's result grows with the
// merge's position in the merges list, so "lowest rank first" equals "earliest merge first"; this is checked.
using System.Text;
using System.Text.Json;

namespace FineTune.Text;

internal static class ByteLevelBpeLoader
{
    public static TiktokenBackedTokenizer FromTokenizerJson(string path, TokenizerSettings settings)
    {
        using var doc = JsonFile.Parse(path);
        var root = doc.RootElement;
        var model = root.Require("model", JsonValueKind.Object, path, "model");
        string type = model.GetString("type") ?? (model.Get("merges") is not null ? "BPE" : "(none)");
        if (type != "BPE")
            throw new TokenizerLoadException($"{path}: model.type is '{type}'; only byte-level 'BPE' tokenizer.json " +
                $"files are supported");
        string pattern = ReadPattern(root, path);
        NormalizationForm? normalization = ReadNormalizer(root, path);

        var vocab = ReadVocab(model.Require("vocab", JsonValueKind.Object, path, "model.vocab").EnumerateObject()
            .Select(p => (p.Name, p.Value.GetInt32())), path, "model.vocab");
        var merges = model.Require("merges", JsonValueKind.Array, path, "model.merges").EnumerateArray().Select(m =>
            m.ValueKind == JsonValueKind.String ? m.GetString()!
            : m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2 ? $"{m[0].GetString()} {m[1].GetString()}"
            : throw new TokenizerLoadException($"{path}: model.merges entries must be \"a b\" strings or [a, b] " +
                $"pairs"));
        CheckMergeOrder(vocab, merges, path, "model.merges");

        var added = new List<AddedToken>();
        if (root.Get("added_tokens") is { ValueKind: JsonValueKind.Array } list)
            foreach (var t in list.EnumerateArray())
                added.Add(new AddedToken(t.Get("id")?.GetInt32()
                    ?? throw new TokenizerLoadException($"{path}: added_tokens entry without 'id'"),
                    t.GetString("content")
                        ?? throw new TokenizerLoadException($"{path}: added_tokens entry without 'content'"),
                    t.GetBool("special", false)));
        return Build(vocab, pattern, added, normalization);
    }

    public static TiktokenBackedTokenizer FromVocabAndMerges(string vocabPath, string mergesPath,
        TokenizerSettings settings)
    {
        using var doc = JsonFile.Parse(vocabPath);
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
            throw new TokenizerLoadException($"{vocabPath}: expected a JSON object mapping token to id");
        var vocab = ReadVocab(doc.RootElement.EnumerateObject().Select(p => (p.Name, p.Value.GetInt32())), vocabPath,
            "vocab");
        var merges = File.ReadLines(mergesPath).Where(l => l.Length > 0 && !l.StartsWith("#version",
            StringComparison.Ordinal));
        CheckMergeOrder(vocab, merges, mergesPath, "merges");
        var added = new List<AddedToken>(settings.AddedTokensDecoder);
        foreach (var special in new[] { settings.BosToken, settings.EosToken, settings.PadToken, settings.UnkToken })
            if (special is not null && added.All(a => a.Content != special) && vocab.TryGetValue(special, out var v))
                added.Add(new AddedToken(v.Id, special, true));
        return Build(vocab, TiktokenBackedTokenizer.Gpt2Pattern, added, null);
    }

    private static TiktokenBackedTokenizer Build(Dictionary<string, (int Id, byte[]? Bytes)> vocab, string pattern,
        List<AddedToken> added, NormalizationForm? normalization)
    {
        var addedIds = added.Select(a => a.Id).ToHashSet();
        var ranks = vocab.Values.Where(v => !addedIds.Contains(v.Id) && v.Bytes is not null).Select(v => (v.Bytes!,
            v.Id)).ToList();
        return new TiktokenBackedTokenizer(ranks, pattern, added, normalization, ToDisplay);
    }

    private static string ToDisplay(byte[] bytes) => string.Create(bytes.Length, bytes, (span, b) =>
    {
        for (int i = 0; i < b.Length; i++)
            span[i] = ByteLevelAlphabet.CharOf(b[i]);
    });

    /// <summary>Maps each piece to its bytes; pieces outside the byte-level alphabet (e.g. special tokens) get null
    /// bytes.</summary>
    private static Dictionary<string,
        (int Id, byte[]? Bytes)> ReadVocab(IEnumerable<(string Piece, int Id)> entries, string path, string field)
    {
        var vocab = new Dictionary<string, (int, byte[]?)>(StringComparer.Ordinal);
        foreach (var (piece, id) in entries)
        {
            if (id < 0)
                throw new TokenizerLoadException($"{path}: {field} entry '{piece}' has negative id {id}");
            vocab[piece] = (id, ByteLevelAlphabet.ToBytes(piece));
        }
        if (vocab.Count == 0)
            throw new TokenizerLoadException($"{path}: {field} is empty");
        return vocab;
    }

    /// <summary>Verifies that merge results get increasing ids in merge order (so rank = id is exact).</summary>
    private static void CheckMergeOrder(Dictionary<string, (int Id, byte[]? Bytes)> vocab, IEnumerable<string> merges,
        string path, string field)
    {
        int previous = -1, index = 0;
        var seen = new HashSet<int>();
        foreach (string merge in merges)
        {
            int space = merge.IndexOf(' ', 1);
            if (space < 0)
                throw new TokenizerLoadException($"{path}: {field}[{index}] '{merge}' is not a pair \"a b\"");
            string result = string.Concat(merge.AsSpan(0, space), merge.AsSpan(space + 1));
            if (!vocab.TryGetValue(result, out var v))
                throw new TokenizerLoadException($"{path}: {field}[{index}] '{merge}' produces '{result}', which is " +
                    $"not in the vocabulary");
            if (seen.Add(v.Id))
            {
                if (v.Id < previous)
                    throw new TokenizerLoadException($"{path}: {field}[{index}] '{merge}' yields id {v.Id} after an " +
                        $"earlier merge yielded id {previous}; " +
                        "ids do not follow merge order, so rank-by-id BPE would not be exact");
                previous = v.Id;
            }
            index++;
        }
    }

    private static string ReadPattern(JsonElement root, string path)
    {
        var steps = new List<JsonElement>();
        if (root.Get("pre_tokenizer") is { } pre)
        {
            if (pre.GetString("type") == "Sequence")
                steps.AddRange(pre.Require("pretokenizers", JsonValueKind.Array, path,
                    "pre_tokenizer.pretokenizers").EnumerateArray());
            else
                steps.Add(pre);
        }
        string? pattern = null;
        bool byteLevel = false, byteLevelRegex = false;
        foreach (var step in steps)
        {
            switch (step.GetString("type"))
            {
                case "Split":
                    if (pattern is not null)
                        throw new TokenizerLoadException($"{path}: pre_tokenizer has more than one Split step; only " +
                            $"one is supported");
                    pattern = step.Get("pattern")?.GetString("Regex")
                        ?? (step.Get("pattern")?.GetString("String") is { } literal
                            ? System.Text.RegularExpressions.Regex.Escape(literal) : null)
                        ?? throw new TokenizerLoadException($"{path}: pre_tokenizer Split step needs pattern.Regex " +
                            $"or pattern.String");
                    if (step.GetString("behavior") is { } b && b != "Isolated" || step.GetBool("invert", false))
                        throw new TokenizerLoadException($"{path}: pre_tokenizer Split step must have behavior " +
                            $"'Isolated' and invert false");
                    break;
                case "ByteLevel":
                    byteLevel = true;
                    byteLevelRegex = step.GetBool("use_regex", true);
                    if (step.GetBool("add_prefix_space", false))
                        throw new TokenizerLoadException($"{path}: pre_tokenizer ByteLevel.add_prefix_space=true is " +
                            $"not supported");
                    break;
                case var other:
                    throw new TokenizerLoadException($"{path}: pre_tokenizer step '{other}' is not supported " +
                        $"(expected Split and/or ByteLevel)");
            }
        }
        if (!byteLevel)
            throw new TokenizerLoadException($"{path}: pre_tokenizer has no ByteLevel step; only byte-level BPE " +
                $"tokenizer.json files are supported " +
                "(for SentencePiece-style files load tokenizer.model instead)");
        if (pattern is not null && byteLevelRegex)
            throw new TokenizerLoadException($"{path}: pre_tokenizer combines Split with ByteLevel.use_regex=true, " +
                $"which is not supported");
        return pattern ?? (byteLevelRegex ? TiktokenBackedTokenizer.Gpt2Pattern : @"[\s\S]+");
    }

    private static NormalizationForm? ReadNormalizer(JsonElement root, string path)
    {
        if (root.Get("normalizer") is not { } n)
            return null;
        return n.GetString("type") switch
        {
            "NFC" => NormalizationForm.FormC,
            "NFKC" => NormalizationForm.FormKC,
            "Sequence" when n.Get("normalizers") is { } list && list.GetArrayLength() == 0 => null,
            var t => throw new TokenizerLoadException($"{path}: normalizer type '{t}' is not supported (expected " +
                $"none, NFC or NFKC)"),
        };
    }
}
