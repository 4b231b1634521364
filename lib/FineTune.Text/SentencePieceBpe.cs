// SentencePiece BPE encoding, written to match sentencepiece's bpe_model.cc exactly:
// merge the adjacent pair with the highest piece score, ties going to the LEFTMOST pair.
// (Microsoft.ML.Tokenizers' LlamaTokenizer breaks such ties differently, e.g. on "=====".)
using System.Collections.Concurrent;
using System.Text;

namespace FineTune.Text;

internal sealed class SentencePieceBpe
{
    public const char SpaceSymbol = '\u2581';

    private readonly SentencePieceModel _model;
    private readonly Dictionary<string, int> _pieces = new(StringComparer.Ordinal);   // NORMAL, USER_DEFINED, UNUSED
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly string[] _userDefined;   // longest first, matched whole during the initial split
    private readonly int[] _byteIds = new int[256];
    private readonly float[] _scores;
    // Word cache: when no piece has "▁" after another character, no merge can cross the start of a "word" (a "▁" run
    // after a non-"▁" character), so words encode independently and their ids can be reused (Hugging Face's BPE cache).
    private readonly bool _wordsIndependent;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;
    private const int CacheCapacity = 1 << 18, CacheMaxWord = 48;
    private int _cacheCount;   // ConcurrentDictionary.Count takes every lock, so count inserts here

    public SentencePieceBpe(SentencePieceModel model, string source)
    {
        _model = model;
        Array.Fill(_byteIds, -1);
        for (int id = 0; id < model.Pieces.Count; id++)
        {
            var p = model.Pieces[id];
            switch (p.Type)
            {
                case PieceType.Normal or PieceType.UserDefined or PieceType.Unused:
                    _pieces.TryAdd(p.Piece, id);
                    break;
                case PieceType.Byte:
                    if (p.Piece.Length == 6 && p.Piece.StartsWith("<0x", StringComparison.Ordinal) && p.Piece[5] == '>'
                        && byte.TryParse(p.Piece.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null,
                            out byte b))
                        _byteIds[b] = id;
                    else
                        throw new TokenizerLoadException($"{source}: byte piece {id} is '{p.Piece}', expected the " +
                            $"form <0xNN>");
                    break;
            }
        }
        _lookup = _pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
        _scores = [.. model.Pieces.Select(p => p.Score)];
        _wordsIndependent = model.EscapeWhitespaces && !_pieces.Keys.Any(HasSpaceAfterOther);
        _userDefined = [.. model.Pieces.Where(p => p.Type == PieceType.UserDefined && p.Piece.Length > 0)
            .Select(p => p.Piece).OrderByDescending(p => p.Length)];
        if (model.ByteFallback && Array.IndexOf(_byteIds, -1) >= 0)
            throw new TokenizerLoadException($"{source}: trainer_spec.byte_fallback is true but not all 256 byte " +
                $"pieces <0x00>..<0xFF> are present");
        if (model.UnkId < 0 || model.UnkId >= model.Pieces.Count)
            throw new TokenizerLoadException($"{source}: trainer_spec.unk_id {model.UnkId} is outside the " +
                $"{model.Pieces.Count} pieces");
    }

    /// <summary>sentencepiece's normalizer for the "identity" rule set (NFKC-named rule sets are approximated by .NET
    /// NFKC).</summary>
    public string Normalize(string text)
    {
        if (_model.NormalizerName.Contains("nfkc", StringComparison.OrdinalIgnoreCase))
            text = text.Normalize(NormalizationForm.FormKC);
        if (_model.RemoveExtraWhitespaces)
            text = string.Join(' ', text.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        if (text.Length == 0)
            return text;
        if (_model.AddDummyPrefix)
            text = " " + text;
        return _model.EscapeWhitespaces ? text.Replace(' ', SpaceSymbol) : text;
    }

    private struct Symbol
    {
        public int Prev, Next, Start, Length;
        public bool Frozen;
    }

    private readonly record struct Pair(int Left, int Right, int Length);

    private static bool HasSpaceAfterOther(string piece)
    {
        for (int i = 1; i < piece.Length; i++)
            if (piece[i] == SpaceSymbol && piece[i - 1] != SpaceSymbol)
                return true;
        return false;
    }

    /// <summary>Encodes already-normalized text into ids, appending to <paramref name="ids"/>.</summary>
    public void EncodeNormalized(string text, List<int> ids)
    {
        if (text.Length == 0)
            return;
        if (!_wordsIndependent)
        {
            EncodeSpan(text, 0, text.Length, ids);
            return;
        }
        for (int start = 0; start < text.Length;)
        {
            int end = start + 1;
            while (end < text.Length && !(text[end] == SpaceSymbol && text[end - 1] != SpaceSymbol))
                end++;
            var word = text.AsSpan(start, end - start);
            if (_cacheLookup.TryGetValue(word, out var cached))
                ids.AddRange(cached);
            else
            {
                int before = ids.Count;
                EncodeSpan(text, start, end - start, ids);
                if (word.Length <= CacheMaxWord && Volatile.Read(ref _cacheCount) < CacheCapacity
                    && _cacheLookup.TryAdd(word, ids.GetRange(before, ids.Count - before).ToArray()))
                    Interlocked.Increment(ref _cacheCount);
            }
            start = end;
        }
    }

    /// <summary>BPE over text[from..from+count), treated as a whole string.</summary>
    private void EncodeSpan(string text, int from, int count, List<int> ids)
    {
        int limit = from + count;
        var symbols = new List<Symbol>(count);
        for (int i = from; i < limit;)
        {
            int len = MatchUserDefined(text.AsSpan(0, limit), i);
            bool frozen = len > 0;
            if (!frozen)
                len = char.IsHighSurrogate(text[i]) && i + 1 < limit && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol
            {
                Prev = symbols.Count - 1, Next = symbols.Count + 1, Start = i, Length = len,
                Frozen = frozen
            });
            i += len;
        }
        var last = symbols[^1];
        last.Next = -1;
        symbols[^1] = last;

        // Highest score first; among equal scores the smallest left index (sentencepiece's SymbolPairComparator).
        var agenda = new PriorityQueue<Pair, (float NegScore, int Left)>();
        void MaybeAdd(int left, int right)
        {
            if (left < 0 || right < 0 || symbols[left].Frozen || symbols[right].Frozen)
                return;
            int start = symbols[left].Start, length = symbols[left].Length + symbols[right].Length;
            if (!_lookup.TryGetValue(text.AsSpan(start, length), out int id))
                return;
            agenda.Enqueue(new Pair(left, right, length), (-_scores[id], left));
        }
        for (int i = 1; i < symbols.Count; i++)
            MaybeAdd(i - 1, i);

        while (agenda.TryDequeue(out var top, out _))
        {
            var l = symbols[top.Left];
            var r = symbols[top.Right];
            // Stale pair: one side was merged away or changed since it was queued.
            if (l.Length == 0 || r.Length == 0 || l.Next != top.Right || l.Length + r.Length != top.Length)
                continue;
            l.Length += r.Length;
            l.Next = r.Next;
            symbols[top.Left] = l;
            if (r.Next >= 0)
            {
                var n = symbols[r.Next];
                n.Prev = top.Left;
                symbols[r.Next] = n;
            }
            r.Length = 0;
            symbols[top.Right] = r;
            MaybeAdd(l.Prev, top.Left);
            MaybeAdd(top.Left, l.Next);
        }

        for (int i = 0; i >= 0; i = symbols[i].Next)
        {
            var piece = text.AsSpan(symbols[i].Start, symbols[i].Length);
            if (_lookup.TryGetValue(piece, out int id) && _model.Pieces[id].Type != PieceType.Unused)
            {
                ids.Add(id);
                continue;
            }
            if (_model.ByteFallback)
                foreach (byte b in Encoding.UTF8.GetBytes(piece.ToString()))
                    ids.Add(_byteIds[b]);
            else
                ids.Add(_model.UnkId);
        }
    }

    private int MatchUserDefined(ReadOnlySpan<char> text, int at)
    {
        foreach (var u in _userDefined)
            if (text[at..].StartsWith(u, StringComparison.Ordinal))
                return u.Length;
        return 0;
    }

    /// <summary>The byte value of a BYTE piece id, or -1.</summary>
    public int ByteValue(int id) =>
        _model.Pieces[id].Type == PieceType.Byte ? Convert.ToInt32(_model.Pieces[id].Piece[3..5], 16) : -1;
}
