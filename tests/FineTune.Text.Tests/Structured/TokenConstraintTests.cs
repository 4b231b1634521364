// Masks over real vocabularies: the trie walk and its cache agree with trying every token's bytes one by one, and
// drawing any token the mask allows always writes a document the independent checker accepts, ending with
// a stop token, within the token budget even when the budget is barely enough.
using System.Text.Json;
using FineTune.Text.Structured;

namespace FineTune.Text.Tests.Structured;

public sealed class TokenConstraintTests
{
    static TextTokenizer SmallBpe()
    {
        var words = "the cat sat on a mat billing shipping other name manager card refund true false null".Split(' ');
        var random = new Random(3);
        var documents = Enumerable.Range(0, 300).Select(_ => "{\"" + string.Join("\": \"",
            Enumerable.Range(0, 6).Select(_ => words[random.Next(words.Length)])) + $"\", {random.Next(1000)}]}}")
            .ToList();
        var dir = TestData.TempDir();
        BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = 300 }).SaveAsync(dir).GetAwaiter().GetResult();
        return TokenizerLoader.Load(dir);
    }

    public static TheoryData<string> Tokenizers => ["small byte-level BPE", "Llama 2 SentencePiece"];

    static TextTokenizer Tokenizer(string name) => name.StartsWith("Llama") ? TestData.Llama2 : SmallBpe();

    [SkippableTheory]
    [MemberData(nameof(Tokenizers))]
    public void The_mask_allows_exactly_the_tokens_whose_bytes_continue_the_document(string name)
    {
        var tokenizer = Tokenizer(name);
        var vocabulary = new ConstrainedVocabulary(JsonSchemaCompiler.Compile(TicketSchema.Element),
            TokenTrie.Build(tokenizer), tokenizer.StopIds);
        var random = new Random(8);
        int checkedStates = 0;
        for (int walk = 0; walk < 4; walk++)
        {
            var text = JsonGrammarTests.Walk(vocabulary.Grammar, random, softLimit: 120);
            var state = vocabulary.Grammar.Start();
            // every 7th prefix of the document: the state there, its mask through the cache, and the brute force
            var bytes = System.Text.Encoding.UTF8.GetBytes(text);
            for (int at = 0; at <= bytes.Length; at++)
            {
                if (at % 7 == 0)
                {
                    var mask = vocabulary.Mask(state).Bits;
                    for (int id = 0; id < tokenizer.VocabSize; id++)
                    {
                        bool allowed = (mask[id >> 6] & (1UL << (id & 63))) != 0;
                        Assert.True(allowed == Continues(state, tokenizer.TokenBytes(id)),
                            $"{name}: token {id} ({tokenizer.IdToToken(id)}) after '{text[..Math.Min(text.Length,
                                at)]}': mask says {allowed}");
                    }
                    checkedStates++;
                }
                if (at < bytes.Length)
                    state = state.Step(bytes[at])!;
            }
        }
        Assert.True(checkedStates > 20);
        Assert.InRange(vocabulary.CachedMasks, 2, checkedStates);   // states that share a key share a mask
    }

    static bool Continues(JsonState state, byte[]? bytes)
    {
        if (bytes is not { Length: > 0 })
            return false;
        JsonState? s = state;
        foreach (var b in bytes)
            if ((s = s!.Step(b)) is null)
                return false;
        return true;
    }

    [SkippableTheory]
    [MemberData(nameof(Tokenizers))]
    public void Drawing_any_allowed_token_always_writes_a_valid_document_within_the_budget(string name)
    {
        var tokenizer = Tokenizer(name);
        var vocabulary = new ConstrainedVocabulary(JsonSchemaCompiler.Compile(TicketSchema.Element),
            TokenTrie.Build(tokenizer), tokenizer.StopIds);
        var random = new Random(9);
        for (int sample = 0; sample < 60; sample++)
        {
            // budgets from barely enough (the schema's shortest document) to roomy
            int budget = vocabulary.Grammar.MinBytes + 1 + random.Next(0, 150);
            var (ids, stopped) = Draw(vocabulary, tokenizer.VocabSize, budget, random);
            var text = tokenizer.Decode(ids);
            Assert.True(stopped, $"{name}: no stop token within {budget} tokens: {text}");
            Assert.Null(TicketSchema.Problem(text));
        }
    }

    [Fact]
    public void Json_object_mode_writes_objects_and_stops()
    {
        var tokenizer = SmallBpe();
        var vocabulary = new ConstrainedVocabulary(JsonSchemaCompiler.AnyObject(), TokenTrie.Build(tokenizer),
            tokenizer.StopIds);
        var random = new Random(10);
        for (int sample = 0; sample < 50; sample++)
        {
            var (ids, stopped) = Draw(vocabulary, tokenizer.VocabSize, 8 + random.Next(0, 60), random);
            Assert.True(stopped);
            using var document = JsonDocument.Parse(tokenizer.Decode(ids));
            Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        }
    }

    [Fact]
    public void Without_a_stop_token_a_complete_document_ends_the_sequence()
    {
        var tokenizer = SmallBpe();
        var vocabulary = new ConstrainedVocabulary(JsonSchemaCompiler.AnyObject(), TokenTrie.Build(tokenizer), []);
        var constraint = vocabulary.Start();
        foreach (var id in tokenizer.Encode("{\"a\": [1]}"))
        {
            Assert.True(constraint.Apply(new float[tokenizer.VocabSize], 100));
            constraint.Accept(id);
        }
        Assert.True(constraint.IsComplete);
        var logits = new float[tokenizer.VocabSize];
        Assert.False(constraint.Apply(logits, 100));
        Assert.All(logits, l => Assert.Equal(float.NegativeInfinity, l));
        Assert.Throws<InvalidOperationException>(() => constraint.Accept(tokenizer.Encode("}")[0]));
    }

    /// <summary>Draws allowed tokens at random until a stop token or the budget.</summary>
    static (List<int> Ids, bool Stopped) Draw(ConstrainedVocabulary vocabulary, int vocab, int budget, Random random)
    {
        var constraint = vocabulary.Start();
        var ids = new List<int>();
        var logits = new float[vocab];
        for (int left = budget; left > 0; left--)
        {
            Array.Clear(logits);
            if (!constraint.Apply(logits, left))
                return (ids, true);
            // any token the mask allows, uniformly: the model is a coin here
            var allowed = Enumerable.Range(0, vocab).Where(i => logits[i] == 0).ToList();
            int token = allowed[random.Next(allowed.Count)];
            if (vocabulary.StopIds.Contains(token))
                return (ids, true);
            constraint.Accept(token);
            ids.Add(token);
        }
        return (ids, false);
    }
}
