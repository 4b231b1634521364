// Bad input must fail with a TokenizerLoadException that names the file and what was expected.
namespace FineTune.Text.Tests;

public class LoaderErrorTests
{
    [Fact]
    public void A_missing_path_is_reported_with_its_name()
    {
        string path = Path.Combine(TestData.TempDir(), "nope", "tokenizer.model");
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("no such file", ex.Message);
    }

    [Fact]
    public void A_directory_without_tokenizer_files_lists_what_was_expected()
    {
        string dir = TestData.TempDir();
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(dir));
        Assert.Contains(dir, ex.Message);
        Assert.Contains("tokenizer.json", ex.Message);
        Assert.Contains("tokenizer.model", ex.Message);
    }

    [SkippableFact]
    public void A_truncated_tokenizer_model_is_reported_as_an_invalid_sentencepiece_model()
    {
        string path = Path.Combine(TestData.TempDir(), "tokenizer.model");
        byte[] full = File.ReadAllBytes(TestData.Llama2Model);
        File.WriteAllBytes(path, full[..1001]);
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("ModelProto.pieces[", ex.Message);
    }

    [Fact]
    public void A_tokenizer_model_of_garbage_bytes_is_rejected()
    {
        string path = Path.Combine(TestData.TempDir(), "tokenizer.model");
        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 0x01]);
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not a valid SentencePiece model", ex.Message);
    }

    [Fact]
    public void A_unigram_sentencepiece_model_is_reported_as_not_supported_yet()
    {
        var model = new SentencePieceModel { ModelType = SentencePieceModel.ModelTypeUnigram };
        model.Pieces.Add(new SentencePieceEntry("<unk>", 0, PieceType.Unknown));
        model.Pieces.Add(new SentencePieceEntry("\u2581a", -1, PieceType.Normal));
        string path = Path.Combine(TestData.TempDir(), "tokenizer.model");
        File.WriteAllBytes(path, model.ToBytes());
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains("trainer_spec.model_type is UNIGRAM", ex.Message);
        Assert.Contains("not supported", ex.Message);
    }

    [Fact]
    public void A_tokenizer_json_with_an_unsupported_model_type_names_the_field()
    {
        string path = Path.Combine(TestData.TempDir(), "tokenizer.json");
        File.WriteAllText(path, """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "pre_tokenizer": null}""");
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("model.type is 'WordPiece'", ex.Message);
    }

    [Fact]
    public void A_tokenizer_json_that_is_not_json_is_reported()
    {
        string path = Path.Combine(TestData.TempDir(), "tokenizer.json");
        File.WriteAllText(path, "{ this is not json");
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not valid JSON", ex.Message);
    }

    [Fact]
    public void A_tokenizer_bin_with_a_bad_token_length_names_the_token()
    {
        string path = Path.Combine(TestData.TempDir(), "tokenizer.bin");
        File.WriteAllBytes(path, [7, 0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 1, 2]);
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("token 0", ex.Message);
        Assert.Contains("byte_length 99", ex.Message);
    }

    [SkippableFact]
    public void A_configured_bos_token_missing_from_the_vocabulary_names_tokenizer_config()
    {
        string dir = TestData.TempDir();
        File.Copy(TestData.Llama2Model, Path.Combine(dir, "tokenizer.model"));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), """{"bos_token": "<|nope|>"}""");
        var ex = Assert.Throws<TokenizerLoadException>(() => TokenizerLoader.Load(dir));
        Assert.Contains("tokenizer_config.json", ex.Message);
        Assert.Contains("bos_token '<|nope|>'", ex.Message);
    }
}
