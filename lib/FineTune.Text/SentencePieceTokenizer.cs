// A TextTokenizer over a SentencePiece BPE tokenizer.model (Llama 2 family), using the hand-written
// SentencePieceBpe encoder. Control-token text such as "<s>" becomes the control id when parsed (Hugging Face's legacy
// LlamaTokenizer), and stays text when encoded literally.
using System.Text;

namespace FineTune.Text;

internal sealed class SentencePieceTokenizer : TextTokenizer
{
    private readonly SentencePieceModel _model;
    private readonly SentencePieceBpe _bpe;
    private readonly Dictionary<string, int> _idByPiece = new(StringComparer.Ordinal);
    private readonly string[] _controlTexts;   // longest first

    internal SentencePieceTokenizer(SentencePieceModel model, string source)
    {
        if (model.ModelType != SentencePieceModel.ModelTypeBpe)
            throw new TokenizerLoadException(model.ModelType == SentencePieceModel.ModelTypeUnigram
                ? $"{source}: trainer_spec.model_type is UNIGRAM: unigram models are not supported yet (only " +
                    $"SentencePiece BPE, model_type 2)"
                : $"{source}: trainer_spec.model_type is {model.ModelType}; expected 2 (BPE)");
        _model = model;
        _bpe = new SentencePieceBpe(model, source);
        for (int i = 0; i < model.Pieces.Count; i++)
            _idByPiece.TryAdd(model.Pieces[i].Piece, i);
        _controlTexts = [.. model.Pieces.Where(p => p.Type == PieceType.Control && p.Piece.Length > 0)
            .Select(p => p.Piece).OrderByDescending(p => p.Length)];
    }

    /// <summary>Shares <paramref name="other"/>'s model so the loader can set the init-only special ids.</summary>
    internal SentencePieceTokenizer(SentencePieceTokenizer other)
    {
        _model = other._model;
        _bpe = other._bpe;
        _idByPiece = other._idByPiece;
        _controlTexts = other._controlTexts;
    }

    internal SentencePieceModel Model => _model;

    public override int VocabSize => _model.Pieces.Count;

    /// <summary>Encodes like Hugging Face's LlamaTokenizer (legacy): text between control tokens is encoded
    /// by SentencePiece (each chunk with its dummy prefix); control-token text maps to its id.</summary>
    private protected override void EncodeParsing(string text, List<int> ids)
    {
        int start = 0;
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] != '<')
                continue;
            string? control = Array.Find(_controlTexts, c => text.AsSpan(i).StartsWith(c, StringComparison.Ordinal));
            if (control is null)
                continue;
            _bpe.EncodeNormalized(_bpe.Normalize(text[start..i]), ids);
            ids.Add(_idByPiece[control]);
            i += control.Length - 1;
            start = i + 1;
        }
        _bpe.EncodeNormalized(_bpe.Normalize(text[start..]), ids);
    }

    /// <summary>SentencePiece's own behaviour: control-token text is ordinary text (control pieces are never
    /// produced).</summary>
    private protected override void EncodeLiteral(string text, List<int> ids) =>
        _bpe.EncodeNormalized(_bpe.Normalize(text), ids);

    private protected override int? SpecialId(string text) =>
        _idByPiece.TryGetValue(text, out int id) && _model.Pieces[id].Type == PieceType.Control ? id : null;

    public override string Decode(IEnumerable<int> ids, bool skipSpecialTokens = true) => DecodeBytes(ids,
        skipSpecialTokens);

    public override string? IdToToken(int id) => (uint)id < (uint)_model.Pieces.Count ? _model.Pieces[id].Piece : null;

    public override int? TokenToId(string token) => _idByPiece.TryGetValue(token, out int id) ? id : null;

    internal override bool IsSpecial(int id) => _model.Pieces[id].Type is PieceType.Control or PieceType.Unknown;

    internal override void AppendBytes(int id, bool first, List<byte> sink)
    {
        var p = _model.Pieces[id];
        int b = _bpe.ByteValue(id);
        if (b >= 0)
        {
            sink.Add((byte)b);
            return;
        }
        if (p.Type is PieceType.Control or PieceType.Unknown)
        {
            sink.AddRange(Encoding.UTF8.GetBytes(p.Piece));
            return;
        }
        string text = p.Piece.Replace(SentencePieceBpe.SpaceSymbol, ' ');
        if (first && _model.AddDummyPrefix && text.StartsWith(' '))
            text = text[1..];
        sink.AddRange(Encoding.UTF8.GetBytes(text));
    }
}
