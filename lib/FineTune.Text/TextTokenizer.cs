// The tokenizer every model-facing component uses: exact encode/decode, special ids, chat template.
// Subclasses expose each id's bytes so decoding and streaming share one code path.
using System.Text;

namespace FineTune.Text;

/// <summary>How special-token text in raw input is read. Parse: "&lt;|im_end|&gt;" becomes its control id (Hugging
/// Face's default for text it is given); Literal: it is encoded as the characters it is (SentencePiece's and tiktoken's
/// default). Message content is always literal: only a chat template's own scaffolding makes control tokens.</summary>
public enum SpecialTokenText { Parse, Literal }

public abstract class TextTokenizer
{
    /// <summary>Number of ids, including special and added tokens.</summary>
    public abstract int VocabSize { get; }
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? PadId { get; init; }
    /// <summary>Ids that end generation: EOS plus end-of-turn tokens and generation_config's eos_token_id
    /// list.</summary>
    public IReadOnlyList<int> StopIds { get; init; } = [];
    public ChatTemplate? ChatTemplate { get; init; }

    /// <summary>Encodes raw text, turning special-token text into control ids (<see
    /// cref="SpecialTokenText.Parse"/>).</summary>
    public IReadOnlyList<int> Encode(string text, bool addBos = false, bool addEos = false) =>
        Encode(text, SpecialTokenText.Parse, addBos, addEos);

    public IReadOnlyList<int> Encode(string text, SpecialTokenText specials, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (specials == SpecialTokenText.Parse)
            EncodeParsing(text, ids);
        else
            EncodeLiteral(text, ids);
        return WithBosEos(ids, addBos, addEos);
    }

    /// <summary>Encodes a chat template's output: control ids only where the template wrote control-token text (and the
    /// tokenizer has that token); everything else — message content above all — literally.</summary>
    public IReadOnlyList<int> Encode(TemplateText text, bool addBos = false, bool addEos = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        int start = 0;
        foreach (var (at, length) in text.Specials.OrderBy(s => s.Start))
        {
            // not a control token here: text
            if (at < start || SpecialId(text.Text.Substring(at, length)) is not { } id)
                continue;
            EncodeLiteral(text.Text[start..at], ids);
            ids.Add(id);
            start = at + length;
        }
        EncodeLiteral(text.Text[start..], ids);
        return WithBosEos(ids, addBos, addEos);
    }

    /// <summary>Raw text with special-token text mapped to control ids.</summary>
    private protected abstract void EncodeParsing(string text, List<int> ids);

    /// <summary>Raw text with special-token text encoded as the characters it is.</summary>
    private protected abstract void EncodeLiteral(string text, List<int> ids);

    /// <summary>The control id whose text is exactly <paramref name="text"/>, or null when this tokenizer has
    /// none.</summary>
    private protected abstract int? SpecialId(string text);
    public abstract string? IdToToken(int id);
    public abstract int? TokenToId(string token);

    public abstract string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true);

    public TokenStreamDecoder CreateStreamDecoder() => new(this);

    /// <summary>The bytes <paramref name="id"/> adds to a sequence's text after its first token, or null for a special
    /// (control) token, which adds none. Constrained decoding matches these against a grammar.</summary>
    public byte[]? TokenBytes(int id)
    {
        CheckId(id);
        if (IsSpecial(id))
            return null;
        var bytes = new List<byte>();
        AppendBytes(id, first: false, bytes);
        return [.. bytes];
    }

    /// <summary>Whether <paramref name="id"/> is a special (control) token, dropped when decoding with
    /// skipSpecialTokens.</summary>
    internal abstract bool IsSpecial(int id);

    /// <summary>Appends the bytes <paramref name="id"/> stands for. <paramref name="first"/> is true for the first
    /// emitted token of a sequence (SentencePiece drops the dummy-prefix space there).</summary>
    internal abstract void AppendBytes(int id, bool first, List<byte> sink);

    /// <summary>Decodes through <see cref="AppendBytes"/>, the same path the stream decoder takes.</summary>
    private protected string DecodeBytes(IEnumerable<int> ids, bool skipSpecialTokens)
    {
        var bytes = new List<byte>();
        bool first = true;
        foreach (int id in ids)
        {
            CheckId(id);
            if (skipSpecialTokens && IsSpecial(id))
                continue;
            AppendBytes(id, first, bytes);
            first = false;
        }
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    internal void CheckId(int id)
    {
        if ((uint)id >= (uint)VocabSize)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id must be in [0, {VocabSize})");
    }

    private protected IReadOnlyList<int> WithBosEos(List<int> ids, bool addBos, bool addEos)
    {
        if (addBos)
            ids.Insert(0, BosId
                ?? throw new InvalidOperationException("addBos was requested but this tokenizer has no BOS token"));
        if (addEos)
            ids.Add(EosId
                ?? throw new InvalidOperationException("addEos was requested but this tokenizer has no EOS token"));
        return ids;
    }
}
