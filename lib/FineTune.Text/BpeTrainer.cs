// Trains a GPT-2 style byte-level BPE tokenizer on a corpus and writes it as Hugging Face files (tokenizer.json,
// tokenizer_config.json with a ChatML chat_template, special_tokens_map.json) that TokenizerLoader reads. Words are
// counted once after the GPT-2 pre-tokenizer split; merges then run over the word-frequency table, touching only the
// words that hold the merged pair. Ids: the 256 bytes (id = byte value), then merge results in merge order, then
// specials.
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace FineTune.Text;

public sealed record BpeTrainerOptions
{
    /// <summary>Total ids: 256 bytes + learned merges + the special tokens.</summary>
    public int VocabSize { get; init; } = 1024;
    /// <summary>Added (special) tokens, given the last ids in this order; never split and never learned as
    /// text.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = [BpeTrainer.EndOfText, BpeTrainer.ImStart,
        BpeTrainer.ImEnd, BpeTrainer.Pad];
    public string BosToken { get; init; } = BpeTrainer.EndOfText;
    public string EosToken { get; init; } = BpeTrainer.EndOfText;
    public string PadToken { get; init; } = BpeTrainer.Pad;
    /// <summary>tokenizer_config.json's model_max_length.</summary>
    public int ModelMaxLength { get; init; } = 2048;
}

public static class BpeTrainer
{
    public const string EndOfText = "<|endoftext|>", ImStart = "<|im_start|>", ImEnd = "<|im_end|>", Pad = "<|pad|>";

    /// <summary>The ChatML jinja template (Qwen2's without the default system turn); ChatTemplate.Detect reads it as
    /// ChatML.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + " +
            "'<|im_end|>' + '\\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// <summary>Learns merges until the vocabulary (bytes + merges + specials) has <see
    /// cref="BpeTrainerOptions.VocabSize"/> ids.</summary>
    public static BpeVocabulary Train(IEnumerable<string> documents, BpeTrainerOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(documents);
        options ??= new BpeTrainerOptions();
        var specials = options.SpecialTokens;
        if (specials.Distinct(StringComparer.Ordinal).Count() != specials.Count || specials.Any(string.IsNullOrEmpty))
            throw new ArgumentException("special tokens must be distinct, non-empty strings.", nameof(options));
        foreach (var (field, token) in new[] { ("bos_token", options.BosToken), ("eos_token", options.EosToken),
            ("pad_token", options.PadToken) })
            if (!specials.Contains(token))
                throw new ArgumentException($"{field} '{token}' is not one of the special tokens " +
                    $"({string.Join(", ", specials)}).", nameof(options));
        int regular = options.VocabSize - specials.Count;
        if (regular < 256)
            throw new ArgumentOutOfRangeException(nameof(options), options.VocabSize,
                $"vocab size must be at least 256 bytes + {specials.Count} special tokens.");

        var (words, frequencies) = CountWords(documents, specials, cancellationToken);
        var tokens = Enumerable.Range(0, 256).Select(b => new[] { (byte)b }).ToList();
        var idOfDisplay = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
            idOfDisplay[Display(tokens[b])] = b;
        var merges = new List<(int Left, int Right)>();

        // Pair statistics over the word table: occurrences weighted by word frequency, and which words hold each pair
        // (a superset: a word may have lost the pair since; merging checks).
        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        for (int w = 0; w < words.Length; w++)
            AddPairs(words[w], w, frequencies[w], pairCounts, pairWords);

        while (tokens.Count < regular)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long best = -1, bestCount = 0;
            foreach (var (pair, count) in pairCounts)
                // ties: lowest (left, right)
                if (count > bestCount || count == bestCount && pair < best)
                {
                    best = pair;
                    bestCount = count;
                }
            if (bestCount == 0)
                throw new ArgumentException($"the corpus has too few distinct symbol pairs for a vocabulary of " +
                    $"{options.VocabSize}: " +
                    $"learned {tokens.Count - 256} merges, stopped at {tokens.Count + specials.Count} ids (use a " +
                        $"larger corpus or a smaller vocab size).", nameof(documents));
            int left = (int)(best >> 32), right = (int)(best & 0xFFFFFFFF);
            var merged = (byte[])[.. tokens[left], .. tokens[right]];
            // Two merge paths can spell the same bytes ("ab"+"c", "a"+"bc"): the merge is recorded, the token kept once
            // (as HF does).
            if (!idOfDisplay.TryGetValue(Display(merged), out int id))
            {
                id = tokens.Count;
                tokens.Add(merged);
                idOfDisplay[Display(merged)] = id;
            }
            merges.Add((left, right));
            pairWords.Remove(best, out var holders);
            foreach (int w in holders!)
            {
                var symbols = words[w];
                if (!Contains(symbols, left, right))
                    continue;
                RemovePairs(symbols, frequencies[w], pairCounts);
                words[w] = symbols = Merge(symbols, left, right, id);
                AddPairs(symbols, w, frequencies[w], pairCounts, pairWords);
            }
        }
        return new BpeVocabulary(tokens, merges, specials, options);
    }

    // The pre-tokenizer's words (GPT-2 regex, special tokens cut out first) with their counts, ordered for determinism.
    static (int[][] Words, long[] Frequencies) CountWords(IEnumerable<string> documents,
        IReadOnlyList<string> specials, CancellationToken ct)
    {
        var regex = new Regex(TiktokenBackedTokenizer.Gpt2Pattern, RegexOptions.Compiled);
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        foreach (var document in documents)
        {
            ct.ThrowIfCancellationRequested();
            int start = 0;
            while (start <= document.Length)
            {
                int next = document.Length, length = 0;
                foreach (var special in specials)
                {
                    int at = document.IndexOf(special, start, StringComparison.Ordinal);
                    if (at >= 0 && (at < next || at == next && special.Length > length))
                    {
                        next = at;
                        length = special.Length;
                    }
                }
                var segment = document.AsSpan(start, next - start);
                foreach (var match in regex.EnumerateMatches(segment))
                {
                    var word = segment.Slice(match.Index, match.Length);
                    lookup[word] = lookup.TryGetValue(word, out long n) ? n + 1 : 1;
                }
                if (length == 0)
                    break;
                start = next + length;
            }
        }
        var ordered = counts.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray();
        return ([.. ordered.Select(kv => Encoding.UTF8.GetBytes(kv.Key).Select(b => (int)b).ToArray())],
            [.. ordered.Select(kv => kv.Value)]);
    }

    static long Key(int left, int right) => (long)left << 32 | (uint)right;

    static void AddPairs(int[] symbols, int word, long frequency, Dictionary<long, long> counts, Dictionary<long,
        HashSet<int>> holders)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
        {
            long key = Key(symbols[i], symbols[i + 1]);
            counts[key] = counts.GetValueOrDefault(key) + frequency;
            if (!holders.TryGetValue(key, out var set))
                holders[key] = set = [];
            set.Add(word);
        }
    }

    static void RemovePairs(int[] symbols, long frequency, Dictionary<long, long> counts)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
        {
            long key = Key(symbols[i], symbols[i + 1]);
            long left = counts[key] - frequency;
            if (left == 0)
                counts.Remove(key);
            else
                counts[key] = left;
        }
    }

    static bool Contains(int[] symbols, int left, int right)
    {
        for (int i = 0; i + 1 < symbols.Length; i++)
            if (symbols[i] == left && symbols[i + 1] == right)
                return true;
        return false;
    }

    // Left to right, non-overlapping: "a a a" with the merge (a, a) becomes "aa a", as BPE applies a merge.
    static int[] Merge(int[] symbols, int left, int right, int id)
    {
        var result = new List<int>(symbols.Length);
        for (int i = 0; i < symbols.Length; i++)
        {
            if (i + 1 < symbols.Length && symbols[i] == left && symbols[i + 1] == right)
            {
                result.Add(id);
                i++;
            }
            else
                result.Add(symbols[i]);
        }
        return [.. result];
    }

    internal static string Display(byte[] bytes) => string.Create(bytes.Length, bytes, (span, b) =>
    {
        for (int i = 0; i < b.Length; i++)
            span[i] = ByteLevelAlphabet.CharOf(b[i]);
    });
}

/// <summary>A trained byte-level BPE: the tokens' bytes by id, the merges in order, the special tokens after
/// them.</summary>
public sealed class BpeVocabulary
{
    readonly List<byte[]> _tokens;
    readonly List<(int Left, int Right)> _merges;
    readonly string[] _specials;
    readonly BpeTrainerOptions _options;

    internal BpeVocabulary(List<byte[]> tokens, List<(int Left, int Right)> merges, IReadOnlyList<string> specials,
        BpeTrainerOptions options)
    {
        _tokens = tokens;
        _merges = merges;
        _specials = [.. specials];
        _options = options;
    }

    public int VocabSize => _tokens.Count + _specials.Length;
    public IReadOnlyList<(int Left, int Right)> Merges => _merges;
    public IReadOnlyList<string> SpecialTokens => _specials;

    /// <summary>The raw bytes of a regular (non-special) token.</summary>
    public ReadOnlySpan<byte> BytesOf(int id) => _tokens[id];

    public int SpecialTokenId(string token)
    {
        int index = Array.IndexOf(_specials, token);
        return index >= 0 ? _tokens.Count + index
            : throw new ArgumentException($"'{token}' is not a special token ({string.Join(", ", _specials)}).",
            nameof(token));
    }

    public int BosId => SpecialTokenId(_options.BosToken);
    public int EosId => SpecialTokenId(_options.EosToken);
    public int PadId => SpecialTokenId(_options.PadToken);

    static readonly JsonSerializerOptions Indented = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping
    };

    /// <summary>tokenizer.json as the Hugging Face tokenizers library writes a byte-level BPE (GPT-2's pre-tokenizer
    /// and decoder).</summary>
    public string TokenizerJson()
    {
        var vocab = new JsonObject();
        for (int id = 0; id < _tokens.Count; id++)
            vocab[BpeTrainer.Display(_tokens[id])] = id;
        foreach (var special in _specials)
            vocab[special] = SpecialTokenId(special);
        var merges = new JsonArray([.. _merges.Select(m =>
            JsonValue.Create($"{BpeTrainer.Display(_tokens[m.Left])} {BpeTrainer.Display(_tokens[m.Right])}"))]);
        JsonObject ByteLevel(bool prefixSpace, bool trimOffsets) => new()
        {
            ["type"] = "ByteLevel", ["add_prefix_space"] = prefixSpace, ["trim_offsets"] = trimOffsets,
            ["use_regex"] = true,
        };
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = new JsonArray([.. _specials.Select(s => (JsonNode)new JsonObject
            {
                ["id"] = SpecialTokenId(s), ["content"] = s, ["single_word"] = false, ["lstrip"] = false,
                    ["rstrip"] = false,
                ["normalized"] = false, ["special"] = true,
            })]),
            ["normalizer"] = null,
            ["pre_tokenizer"] = ByteLevel(prefixSpace: false, trimOffsets: true),
            ["post_processor"] = ByteLevel(prefixSpace: true, trimOffsets: false),
            ["decoder"] = ByteLevel(prefixSpace: true, trimOffsets: true),
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = null, ["continuing_subword_prefix"] = null,
                ["end_of_word_suffix"] = null,
                ["fuse_unk"] = false, ["byte_fallback"] = false, ["ignore_merges"] = false, ["vocab"] = vocab,
                ["merges"] = merges,
            },
        };
        return root.ToJsonString(Indented) + "\n";
    }

    /// <summary>tokenizer_config.json: the special tokens, the ChatML chat_template, model_max_length.</summary>
    public string TokenizerConfigJson()
    {
        var decoder = new JsonObject();
        foreach (var s in _specials)
            decoder[SpecialTokenId(s).ToString(CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = s, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false,
                ["single_word"] = false, ["special"] = true,
            };
        var root = new JsonObject
        {
            ["add_bos_token"] = false,
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = decoder,
            ["additional_special_tokens"] = new JsonArray([.. _specials.Where(s => s != _options.BosToken
                && s != _options.EosToken && s != _options.PadToken)
                .Select(s => JsonValue.Create(s))]),
            ["bos_token"] = _options.BosToken,
            ["chat_template"] = BpeTrainer.ChatMlTemplate,
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = _options.EosToken,
            ["model_max_length"] = _options.ModelMaxLength,
            ["pad_token"] = _options.PadToken,
            ["tokenizer_class"] = "PreTrainedTokenizerFast",
            ["unk_token"] = null,
        };
        return root.ToJsonString(Indented) + "\n";
    }

    public string SpecialTokensMapJson() => new JsonObject
    {
        ["additional_special_tokens"] = new JsonArray([.. _specials.Where(s => s != _options.BosToken
            && s != _options.EosToken && s != _options.PadToken)
            .Select(s => JsonValue.Create(s))]),
        ["bos_token"] = _options.BosToken,
        ["eos_token"] = _options.EosToken,
        ["pad_token"] = _options.PadToken,
    }.ToJsonString(Indented) + "\n";

    /// <summary>Writes tokenizer.json, tokenizer_config.json and special_tokens_map.json into <paramref
    /// name="directory"/>.</summary>
    public async Task SaveAsync(string directory, CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(directory);
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        await File.WriteAllTextAsync(Path.Combine(directory, "tokenizer.json"), TokenizerJson(), utf8,
            cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "tokenizer_config.json"), TokenizerConfigJson(), utf8,
            cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(directory, "special_tokens_map.json"), SpecialTokensMapJson(), utf8,
            cancellationToken);
    }
}
