// The parts of a SentencePiece ModelProto (sentencepiece_model.proto) that encoding needs,
// read from and written to the protobuf wire format by hand.
namespace FineTune.Text;

internal enum PieceType { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 }

internal sealed record SentencePieceEntry(string Piece, float Score, PieceType Type);

internal sealed class SentencePieceModel
{
    public const int ModelTypeUnigram = 1, ModelTypeBpe = 2;

    public List<SentencePieceEntry> Pieces { get; } = [];
    public int ModelType { get; set; } = ModelTypeUnigram; // proto default
    public bool ByteFallback { get; set; }
    public int UnkId { get; set; }
    public int BosId { get; set; } = 1;
    public int EosId { get; set; } = 2;
    public int PadId { get; set; } = -1;
    public string NormalizerName { get; set; } = "";
    public bool AddDummyPrefix { get; set; } = true;
    public bool RemoveExtraWhitespaces { get; set; } = true;
    public bool EscapeWhitespaces { get; set; } = true;

    /// <summary>Parses a serialized ModelProto; <paramref name="source"/> names the file in error messages.</summary>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> data, string source)
    {
        var m = new SentencePieceModel();
        string where = "ModelProto";
        try
        {
            var r = new ProtoReader(data);
            while (r.TryReadTag(out int field, out var wire))
            {
                switch (field, wire)
                {
                    case (1, WireType.Len):
                        where = $"ModelProto.pieces[{m.Pieces.Count}]";
                        m.Pieces.Add(ParsePiece(r.ReadBytes()));
                        break;
                    case (2, WireType.Len):
                        where = "ModelProto.trainer_spec";
                        ParseTrainer(r.ReadBytes(), m);
                        break;
                    case (3, WireType.Len):
                        where = "ModelProto.normalizer_spec";
                        ParseNormalizer(r.ReadBytes(),
                        m);
                        break;
                    default:
                        where = $"ModelProto field {field}";
                        r.Skip(wire);
                        break;
                }
            }
        }
        catch (FormatException e)
        {
            throw new TokenizerLoadException($"{source}: not a valid SentencePiece model (protobuf ModelProto): " +
                $"{where}: {e.Message}");
        }
        if (m.Pieces.Count == 0)
            throw new TokenizerLoadException($"{source}: not a valid SentencePiece model: ModelProto.pieces (field " +
                $"1) is empty; expected a serialized sentencepiece ModelProto");
        return m;
    }

    private static SentencePieceEntry ParsePiece(ReadOnlySpan<byte> data)
    {
        var r = new ProtoReader(data);
        string piece = "";
        float score = 0;
        var type = PieceType.Normal;
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field, wire)
            {
                case (1, WireType.Len):
                    piece = r.ReadString();
                    break;
                case (2, WireType.Fixed32):
                    score = r.ReadFloat();
                    break;
                case (3, WireType.Varint):
                    ulong t = r.ReadVarint();
                    if (t is < 1 or > 6)
                        throw new FormatException($"piece type {t} is not one of 1..6");
                    type = (PieceType)t;
                    break;
                default:
                    r.Skip(wire);
                    break;
            }
        }
        return new SentencePieceEntry(piece, score, type);
    }

    private static void ParseTrainer(ReadOnlySpan<byte> data, SentencePieceModel m)
    {
        var r = new ProtoReader(data);
        while (r.TryReadTag(out int field, out var wire))
        {
            if (wire != WireType.Varint)
            {
                r.Skip(wire);
                continue;
            }
            long v = (long)r.ReadVarint();
            switch (field)
            {
                case 3:
                    m.ModelType = (int)v;
                    break;
                case 35:
                    m.ByteFallback = v != 0;
                    break;
                case 40:
                    m.UnkId = (int)v;
                    break;
                case 41:
                    m.BosId = (int)v;
                    break;
                case 42:
                    m.EosId = (int)v;
                    break;
                case 43:
                    m.PadId = (int)v;
                    break;
            }
        }
    }

    private static void ParseNormalizer(ReadOnlySpan<byte> data, SentencePieceModel m)
    {
        var r = new ProtoReader(data);
        while (r.TryReadTag(out int field, out var wire))
        {
            switch (field, wire)
            {
                case (1, WireType.Len):
                    m.NormalizerName = r.ReadString();
                    break;
                case (3, WireType.Varint):
                    m.AddDummyPrefix = r.ReadVarint() != 0;
                    break;
                case (4, WireType.Varint):
                    m.RemoveExtraWhitespaces = r.ReadVarint() != 0;
                    break;
                case (5, WireType.Varint):
                    m.EscapeWhitespaces = r.ReadVarint() != 0;
                    break;
                default:
                    r.Skip(wire);
                    break;
            }
        }
    }

    /// <summary>Serializes the model as a ModelProto (the fields this class knows).</summary>
    public byte[] ToBytes()
    {
        var w = new ProtoWriter();
        foreach (var p in Pieces)
            w.Message(1, new ProtoWriter().String(1, p.Piece).Float(2, p.Score).Varint(3, (int)p.Type));
        w.Message(2, new ProtoWriter()
            .Varint(3, ModelType).Varint(4, Pieces.Count).Bool(35, ByteFallback)
            .Varint(40, UnkId).Varint(41, BosId).Varint(42, EosId).Varint(43, PadId));
        w.Message(3, new ProtoWriter()
            .String(1, NormalizerName).Bool(3, AddDummyPrefix).Bool(4, RemoveExtraWhitespaces).Bool(5,
                EscapeWhitespaces));
        return w.ToArray();
    }
}
