// Converts a llama2.c tokenizer.bin (scores + UTF-8 pieces) into a real SentencePiece tokenizer.model
// plus tokenizer_config.json, so the same loader (and Hugging Face / sentencepiece) can use it.
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace FineTune.Text;

public static class Llama2cTokenizerConverter
{
    public static void Convert(string tokenizerBinPath, string outputDirectory)
    {
        var model = ToModel(tokenizerBinPath);
        Directory.CreateDirectory(outputDirectory);
        File.WriteAllBytes(Path.Combine(outputDirectory, "tokenizer.model"), model.ToBytes());
        var config = new Dictionary<string, object>
        {
            ["bos_token"] = "<s>",
            ["eos_token"] = "</s>",
            ["unk_token"] = "<unk>",
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["tokenizer_class"] = "LlamaTokenizer",
        };
        File.WriteAllText(Path.Combine(outputDirectory, "tokenizer_config.json"),
            JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Reads tokenizer.bin into a SentencePiece BPE model (byte fallback, identity normalizer, dummy
    /// prefix).</summary>
    internal static SentencePieceModel ToModel(string path)
    {
        if (!File.Exists(path))
            throw new TokenizerLoadException($"{path}: file not found (expected a llama2.c tokenizer.bin)");
        byte[] data = File.ReadAllBytes(path);
        var model = new SentencePieceModel
        {
            ModelType = SentencePieceModel.ModelTypeBpe, ByteFallback = true,
            UnkId = 0, BosId = 1, EosId = 2, PadId = -1,
            NormalizerName = "identity", AddDummyPrefix = true, RemoveExtraWhitespaces = false,
            EscapeWhitespaces = true,
        };
        if (data.Length < 4)
            throw new TokenizerLoadException($"{path}: too short for a llama2.c tokenizer.bin (expected int32 " +
                $"max_token_length first)");
        int maxLen = BinaryPrimitives.ReadInt32LittleEndian(data);
        int pos = 4;
        while (pos < data.Length)
        {
            int id = model.Pieces.Count;
            if (pos + 8 > data.Length)
                throw new TokenizerLoadException($"{path}: token {id} at byte {pos}: truncated score/length header");
            float score = BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(pos));
            int len = BinaryPrimitives.ReadInt32LittleEndian(data.AsSpan(pos + 4));
            pos += 8;
            if (len < 0 || len > maxLen || pos + len > data.Length)
                throw new TokenizerLoadException($"{path}: token {id} at byte {pos - 8}: byte_length {len} is " +
                    $"invalid (max_token_length {maxLen}, file size {data.Length})");
            string text = Encoding.UTF8.GetString(data, pos, len);
            pos += len;
            model.Pieces.Add(id switch
            {
                0 => new SentencePieceEntry("<unk>", score, PieceType.Unknown),
                1 => new SentencePieceEntry("<s>", score, PieceType.Control),
                2 => new SentencePieceEntry("</s>", score, PieceType.Control),
                >= 3 and <= 258 => text == $"<0x{id - 3:X2}>" ? new SentencePieceEntry(text, score, PieceType.Byte)
                    : throw new TokenizerLoadException($"{path}: token {id} is '{text}', expected byte piece " +
                        $"<0x{id - 3:X2}>"),
                _ => new SentencePieceEntry(text.Replace(' ', SentencePieceBpe.SpaceSymbol), score, PieceType.Normal),
            });
        }
        if (model.Pieces.Count < 259)
            throw new TokenizerLoadException($"{path}: only {model.Pieces.Count} tokens; a llama2.c tokenizer has " +
                $"<unk>, <s>, </s> and 256 byte tokens first");
        return model;
    }
}
