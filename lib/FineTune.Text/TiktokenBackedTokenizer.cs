// A TextTokenizer over Microsoft.ML.Tokenizers' TiktokenTokenizer: byte-level BPE where each token's
// rank is its id. Used for tokenizer.json / vocab.json+merges.txt (byte-level BPE) and *.tiktoken files.
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace FineTune.Text;

internal sealed record AddedToken(int Id, string Content, bool Special);

internal sealed class TiktokenBackedTokenizer : TextTokenizer
{
    /// <summary>GPT-2's pre-tokenizer regex, used for ByteLevel pre-tokenizers with use_regex.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly TiktokenTokenizer _tiktoken;
    private readonly Regex _pattern;                       // the pre-tokenizer's pieces, for literal encoding
    private readonly string[] _specialTexts;              // added tokens' texts, longest first
    private readonly System.Buffers.SearchValues<char> _specialStarts;
    private readonly Dictionary<int, byte[]> _bytesById;
    private readonly Dictionary<int, AddedToken> _added;
    private readonly Dictionary<string, int> _idByToken;
    private readonly Dictionary<int, string> _tokenById;
    private readonly NormalizationForm? _normalization;
    private readonly int _vocabSize;

    /// <param name="ranks">Each regular token's bytes and rank; the rank is the id.</param>
    /// <param name="displayOf">How a token's bytes are written as a token string (byte-level alphabet or raw
    /// text).</param>
    public TiktokenBackedTokenizer(IReadOnlyList<(byte[] Bytes, int Rank)> ranks, string pattern,
        IReadOnlyList<AddedToken> added, NormalizationForm? normalization, Func<byte[], string> displayOf)
    {
        _bytesById = new Dictionary<int, byte[]>(ranks.Count);
        _idByToken = new Dictionary<string, int>(ranks.Count + added.Count, StringComparer.Ordinal);
        _tokenById = new Dictionary<int, string>(ranks.Count);
        var tiktokenText = new StringBuilder(ranks.Count * 16);
        foreach (var (bytes, rank) in ranks)
        {
            _bytesById[rank] = bytes;
            string display = displayOf(bytes);
            _tokenById[rank] = display;
            _idByToken.TryAdd(display, rank);
            tiktokenText.Append(Convert.ToBase64String(bytes)).Append(' ').Append(rank).Append('\n');
        }
        _added = added.ToDictionary(a => a.Id);
        foreach (var a in added)
            _idByToken[a.Content] = a.Id;
        var specials = added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        _pattern = new Regex(pattern, RegexOptions.Compiled);
        _specialTexts = [.. added.Select(a => a.Content).Where(c => c.Length > 0).Distinct().OrderByDescending(c =>
            c.Length)];
        _specialStarts = System.Buffers.SearchValues.Create(_specialTexts.Select(c => c[0]).Distinct().ToArray());
        var preTokenizer = new RegexPreTokenizer(_pattern, specials);
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(tiktokenText.ToString()));
        _tiktoken = TiktokenTokenizer.Create(stream, preTokenizer, normalizer: null, specials);
        _normalization = normalization;
        _vocabSize = Math.Max(ranks.Count == 0 ? 0 : ranks.Max(r => r.Rank) + 1,
            added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
    }

    /// <summary>Shares <paramref name="other"/>'s tables so the loader can set the init-only special ids.</summary>
    internal TiktokenBackedTokenizer(TiktokenBackedTokenizer other)
    {
        _tiktoken = other._tiktoken;
        _pattern = other._pattern;
        _specialTexts = other._specialTexts;
        _specialStarts = other._specialStarts;
        _bytesById = other._bytesById;
        _added = other._added;
        _idByToken = other._idByToken;
        _tokenById = other._tokenById;
        _normalization = other._normalization;
        _vocabSize = other._vocabSize;
    }

    public override int VocabSize => _vocabSize;

    private protected override void EncodeParsing(string text, List<int> ids)
    {
        if (_normalization is { } form)
            text = text.Normalize(form);
        ids.AddRange(_tiktoken.EncodeToIds(text));
    }

    /// <summary>tiktoken's own default: special-token text is split into ordinary pieces by the pre-tokenizer's pattern
    /// and byte-pair encoded like any text. Text without any special-token text takes the usual (identical)
    /// path.</summary>
    private protected override void EncodeLiteral(string text, List<int> ids)
    {
        if (_normalization is { } form)
            text = text.Normalize(form);
        if (!HasSpecialText(text))
        {
            ids.AddRange(_tiktoken.EncodeToIds(text));
            return;
        }
        foreach (Match piece in _pattern.Matches(text))
            ids.AddRange(_tiktoken.EncodeToIds(piece.Value, considerPreTokenization: false,
                considerNormalization: false));
    }

    bool HasSpecialText(string text)
    {
        for (int i = text.AsSpan().IndexOfAny(_specialStarts); i >= 0;)
        {
            foreach (var special in _specialTexts)
                if (text.AsSpan(i).StartsWith(special, StringComparison.Ordinal))
                    return true;
            int next = text.AsSpan(i + 1).IndexOfAny(_specialStarts);
            i = next < 0 ? -1 : i + 1 + next;
        }
        return false;
    }

    private protected override int? SpecialId(string text) =>
        _idByToken.TryGetValue(text, out int id) && _added.TryGetValue(id, out var a) && a.Special ? id : null;

    public override string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true) => DecodeBytes(ids,
        skipSpecialTokens);

    public override string? IdToToken(int id) =>
        _added.TryGetValue(id, out var a) ? a.Content
        : _tokenById.GetValueOrDefault(id);

    public override int? TokenToId(string token) => _idByToken.TryGetValue(token, out int id) ? id : null;

    internal override bool IsSpecial(int id) => _added.TryGetValue(id, out var a) && a.Special;

    internal override void AppendBytes(int id, bool first, List<byte> sink)
    {
        if (_added.TryGetValue(id, out var a))
            sink.AddRange(Encoding.UTF8.GetBytes(a.Content));
        else if (_bytesById.TryGetValue(id, out var b))
            sink.AddRange(b);
        // An id inside VocabSize with no token (a gap in the vocabulary) decodes to nothing.
    }
}
