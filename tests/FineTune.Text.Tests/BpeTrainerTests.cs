// BpeTrainer: a byte-level BPE trained on a small seeded corpus, saved as tokenizer.json + tokenizer_config.json and
// loaded back through TokenizerLoader: exact round trips (Unicode, special tokens), the asked vocabulary size, merges
// that make common words single tokens, ChatML detection, and byte-identical files for the same corpus.
using System.Text;
using System.Text.Json;

namespace FineTune.Text.Tests;

public class BpeTrainerTests
{
    static readonly string[] Words =
    [
        "the", "customer", "support", "order", "refund", "router", "camera", "charged", "twice", "please", "thanks",
            "delivery", "account",
        "password", "arrived", "broken", "update", "screen", "battery", "Zoë", "café", "naïve", "Müller", "São",
            "Paulo", "東京", "🙂",
    ];

    static List<string> Corpus(int seed, int documents = 400)
    {
        var random = new Random(seed);
        var list = new List<string>();
        for (int d = 0; d < documents; d++)
        {
            var sb = new StringBuilder();
            int sentences = random.Next(2, 6);
            for (int s = 0; s < sentences; s++)
            {
                int n = random.Next(4, 12);
                for (int w = 0; w < n; w++)
                    sb.Append(w == 0 ? "" : " ").Append(Words[random.Next(Words.Length)]);
                sb.Append(random.Next(3) == 0 ? "? " : ". ").Append(random.Next(5) == 0 ? $"#{random.Next(1000)} "
                    : "");
            }
            var text = sb.ToString().TrimEnd();
            list.Add(d % 4 == 0
                ? $"<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n{{\"answer\": " +
                $"\"{Words[d % Words.Length]}\"}}<|im_end|>\n" : text);
        }
        return list;
    }

    static (BpeVocabulary Bpe, TextTokenizer Tokenizer, string Dir) Trained(int vocab = 400, int seed = 3)
    {
        var bpe = BpeTrainer.Train(Corpus(seed), new BpeTrainerOptions { VocabSize = vocab, ModelMaxLength = 128 });
        var dir = TestData.TempDir();
        bpe.SaveAsync(dir).GetAwaiter().GetResult();
        return (bpe, TokenizerLoader.Load(dir), dir);
    }

    [Theory]
    [InlineData("the customer was charged twice. please refund!")]
    [InlineData("Zoë from São Paulo drinks café — naïve 東京 🙂 ünïcödé ∑ never seen")]
    [InlineData("  leading spaces,\ttabs\n\nnew lines   and trailing  ")]
    [InlineData("<|im_start|>user\nmy router is broken<|im_end|>\n<|im_start|>assistant\n{\"category\": " +
        "\"technical\"}<|im_end|>\n<|endoftext|><|pad|>")]
    [InlineData("order #123 ... 3.14159 $49.99 x<|im_end|>y")]
    public void Trained_tokenizer_round_trips_text_exactly(string text)
    {
        var (_, tokenizer, _) = Trained();
        var ids = tokenizer.Encode(text);
        Assert.Equal(text, tokenizer.Decode(ids, skipSpecialTokens: false));
        Assert.All(ids, id => Assert.InRange(id, 0, tokenizer.VocabSize - 1));
    }

    [Fact]
    public void Vocabulary_has_the_asked_size_with_special_tokens_last()
    {
        var (bpe, tokenizer, dir) = Trained(vocab: 400);
        Assert.Equal(400, bpe.VocabSize);
        Assert.Equal(400, tokenizer.VocabSize);
        Assert.Equal(396, tokenizer.TokenToId(BpeTrainer.EndOfText));
        Assert.Equal(397, tokenizer.TokenToId(BpeTrainer.ImStart));
        Assert.Equal(398, tokenizer.TokenToId(BpeTrainer.ImEnd));
        Assert.Equal(399, tokenizer.TokenToId(BpeTrainer.Pad));
        Assert.Equal((396, 396, 399), (tokenizer.BosId, tokenizer.EosId, tokenizer.PadId));
        Assert.Contains(398, tokenizer.StopIds);
        Assert.Equal(ChatTemplateKind.ChatMl, tokenizer.ChatTemplate?.Kind);
        Assert.Equal([397], tokenizer.Encode(BpeTrainer.ImStart));

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tokenizer.json")));
        var model = json.RootElement.GetProperty("model");
        Assert.Equal("BPE", model.GetProperty("type").GetString());
        Assert.Equal("ByteLevel", json.RootElement.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.Equal("ByteLevel", json.RootElement.GetProperty("decoder").GetProperty("type").GetString());
        Assert.Equal(400, model.GetProperty("vocab").EnumerateObject().Count());
        Assert.True(model.GetProperty("merges").GetArrayLength() >= 400 - 256 - 4);
        Assert.Equal(4, json.RootElement.GetProperty("added_tokens").GetArrayLength());
    }

    [Fact]
    public void Merges_make_common_words_single_tokens()
    {
        var (_, tokenizer, _) = Trained();
        foreach (var word in new[] { " customer", " support", " refund", " the", " password" })
        {
            var ids = tokenizer.Encode(word);
            Assert.True(ids.Count == 1,
                $"'{word}' became {ids.Count} tokens: {string.Join(" ", ids.Select(i => tokenizer.IdToToken(i)))}");
        }
        var text = string.Join(' ', Corpus(11, 20));
        Assert.True(tokenizer.Encode(text).Count * 2 < Encoding.UTF8.GetByteCount(text),
            "merges should at least halve the byte count");
    }

    [Fact]
    public void Same_corpus_gives_byte_identical_files()
    {
        var (_, _, first) = Trained(seed: 5);
        var (_, _, second) = Trained(seed: 5);
        foreach (var file in new[] { "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, file)), File.ReadAllBytes(Path.Combine(second, file)));
        var (_, _, other) = Trained(seed: 6);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(first, "tokenizer.json")),
            File.ReadAllBytes(Path.Combine(other, "tokenizer.json")));
    }

    [Fact]
    public void Special_tokens_in_the_corpus_are_not_learned_as_text()
    {
        var (bpe, _, _) = Trained();
        for (int id = 256; id < bpe.VocabSize - bpe.SpecialTokens.Count; id++)
            // "<|" and "|>" would be among the first merges otherwise
            Assert.DoesNotContain((byte)'|', bpe.BytesOf(id).ToArray());
    }

    [Fact]
    public void A_corpus_too_small_for_the_vocabulary_is_an_error_naming_the_size()
    {
        var e = Assert.Throws<ArgumentException>(() => BpeTrainer.Train(["ab ab ab"],
            new BpeTrainerOptions { VocabSize = 1024 }));
        Assert.Contains("1024", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => BpeTrainer.Train(["x"],
            new BpeTrainerOptions { VocabSize = 100 }));
    }
}
