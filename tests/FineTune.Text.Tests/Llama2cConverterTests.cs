// llama2.c tokenizer.bin: the converted SentencePiece model must encode exactly like llama2.c's own encode().
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace FineTune.Text.Tests;

public class Llama2cConverterTests
{
    private static readonly string[] s_texts =
    [
        "Once upon a time, there was a little girl named Lily.",
        "She liked to play outside in the park with her dog.",
        "Hello  world!\nNew line, tabs\tand \"quotes\".",
        "naïve café — 3.14 😀 中文",
        "aaaaaaaaaa ==== ----",
        " leading space",
        "",
    ];

    [SkippableFact]
    public void The_converted_model_encodes_every_text_exactly_like_llama2c()
    {
        string dir = TestData.TempDir();
        Llama2cTokenizerConverter.Convert(TestData.Tok512, dir);
        var converted = TokenizerLoader.Load(Path.Combine(dir, "tokenizer.model"));
        var reference = new Llama2cReference(TestData.Tok512);
        foreach (string text in s_texts)
        {
            Assert.Equal(reference.Encode(text, bos: true), converted.Encode(text, addBos: true));
            Assert.Equal(reference.Encode(text, bos: false), converted.Encode(text));
        }
        Assert.Equal(512, converted.VocabSize);
    }

    [SkippableFact]
    public void Loading_tokenizer_bin_directly_matches_the_converted_model()
    {
        string dir = TestData.TempDir();
        Llama2cTokenizerConverter.Convert(TestData.Tok512, dir);
        var converted = TokenizerLoader.Load(dir);
        var direct = TokenizerLoader.Load(TestData.Tok512);
        foreach (string text in s_texts)
        {
            Assert.Equal(converted.Encode(text), direct.Encode(text));
            if (!text.StartsWith(' '))
                Assert.Equal(text, direct.Decode(direct.Encode(text)));
        }
        Assert.Equal((1, 2), (converted.BosId!.Value, converted.EosId!.Value));
        Assert.Equal((1, 2), (direct.BosId!.Value, direct.EosId!.Value));
    }

    [SkippableFact]
    public void The_converted_files_declare_bpe_byte_fallback_and_the_special_tokens()
    {
        string dir = TestData.TempDir();
        Llama2cTokenizerConverter.Convert(TestData.Tok512, dir);
        var model = SentencePieceModel.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer.model")),
            "tokenizer.model");
        Assert.Equal(SentencePieceModel.ModelTypeBpe, model.ModelType);
        Assert.True(model.ByteFallback);
        Assert.Equal((0, 1, 2, -1), (model.UnkId, model.BosId, model.EosId, model.PadId));
        Assert.Equal(("identity", true, false),
            (model.NormalizerName, model.AddDummyPrefix, model.RemoveExtraWhitespaces));
        Assert.Equal(new SentencePieceEntry("<s>", 0, PieceType.Control), model.Pieces[1]);
        Assert.Equal(PieceType.Byte, model.Pieces[3 + 0x41].Type);
        Assert.Equal("\u2581t", model.Pieces[259].Piece);

        using var config = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer_config.json")));
        Assert.Equal("<s>", config.RootElement.GetProperty("bos_token").GetString());
        Assert.Equal("</s>", config.RootElement.GetProperty("eos_token").GetString());
        Assert.True(config.RootElement.GetProperty("add_bos_token").GetBoolean());
    }

    /// <summary>llama2.c's encode() (run.c), run directly on tokenizer.bin.</summary>
    private sealed class Llama2cReference
    {
        private readonly List<string> _vocab = [];
        private readonly List<float> _scores = [];
        private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);

        public Llama2cReference(string path)
        {
            byte[] d = File.ReadAllBytes(path);
            for (int p = 4; p < d.Length;)
            {
                _scores.Add(BinaryPrimitives.ReadSingleLittleEndian(d.AsSpan(p)));
                int len = BinaryPrimitives.ReadInt32LittleEndian(d.AsSpan(p + 4));
                _vocab.Add(Encoding.UTF8.GetString(d, p + 8, len));
                p += 8 + len;
            }
            for (int i = 0; i < _vocab.Count; i++)
                _ids.TryAdd(_vocab[i], i);
        }

        public List<int> Encode(string text, bool bos)
        {
            var tokens = new List<int>();
            if (bos)
                tokens.Add(1);
            if (text.Length > 0)
                tokens.Add(_ids[" "]);
            for (int i = 0; i < text.Length; i += char.IsSurrogatePair(text, i) ? 2 : 1)
            {
                string c = char.IsSurrogatePair(text, i) ? text.Substring(i, 2) : text.Substring(i, 1);
                if (_ids.TryGetValue(c, out int id))
                    tokens.Add(id);
                else
                    tokens.AddRange(Encoding.UTF8.GetBytes(c).Select(b => b + 3));
            }
            while (true)
            {
                float best = -1e10f;
                int bestId = -1, bestIdx = -1;
                for (int i = bos ? 1 : 0; i < tokens.Count - 1; i++)
                {
                    if (_ids.TryGetValue(_vocab[tokens[i]] + _vocab[tokens[i + 1]], out int id) && _scores[id] > best)
                        (best, bestId, bestIdx) = (_scores[id], id, i);
                }
                if (bestIdx == -1)
                    break;
                tokens[bestIdx] = bestId;
                tokens.RemoveAt(bestIdx + 1);
            }
            return tokens;
        }
    }
}
