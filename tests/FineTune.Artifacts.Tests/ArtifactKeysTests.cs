// ArtifactKeys: known SHA-256 values, the stage key scheme, Combine's determinism and order, and its argument checks.
using System.Text;

namespace FineTune.Artifacts.Tests;

[Trait("Kind", "unit")]
public sealed class ArtifactKeysTests
{
    const string AbcSha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    [Fact]
    public async Task Text_stream_and_file_hashes_agree_with_the_published_sha256_of_abc()
    {
        using var temp = new TempDir();
        var path = Path.Combine(temp.Path, "abc.txt");
        File.WriteAllText(path, "abc");
        Assert.Equal(AbcSha256, ArtifactKeys.Sha256OfText("abc"));
        Assert.Equal(AbcSha256, ArtifactKeys.Sha256OfStream(new MemoryStream(Encoding.UTF8.GetBytes("abc"))));
        Assert.Equal(AbcSha256,
            await ArtifactKeys.Sha256OfStreamAsync(new MemoryStream(Encoding.UTF8.GetBytes("abc"))));
        Assert.Equal(AbcSha256, ArtifactKeys.Sha256OfFile(path));
        Assert.Equal(AbcSha256, await ArtifactKeys.Sha256OfFileAsync(path));
        var e = Assert.Throws<FileNotFoundException>(() => ArtifactKeys.Sha256OfFile(Path.Combine(temp.Path, "none")));
        Assert.Contains("none", e.Message);
    }

    [Fact]
    public void For_builds_stage_run_inputs_file()
    {
        var run = Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        Assert.Equal("tokenization/0f8fad5bd9cb469fa16570867728950e/ba7816bf8f01cfea/shards/train-0.bin",
            ArtifactKeys.For("tokenization", run, AbcSha256, "shards/train-0.bin"));
    }

    [Theory]
    [InlineData("Training", "ba7816bf8f01cfea", "f")]
    [InlineData("a/b", "ba7816bf8f01cfea", "f")]
    [InlineData("training", "BA7816BF8F01CFEA", "f")]
    [InlineData("training", "ba7816bf", "f")]
    [InlineData("training", "ba7816bf8f01cfea", "../f")]
    [InlineData("training", "ba7816bf8f01cfea", "/f")]
    [InlineData("", "ba7816bf8f01cfea", "f")]
    public void For_rejects_bad_segments(string stage, string inputsHash, string file) =>
        Assert.ThrowsAny<ArgumentException>(() => ArtifactKeys.For(stage, Guid.NewGuid(), inputsHash, file));

    [Fact]
    public void For_rejects_an_empty_run_id() =>
        Assert.Throws<ArgumentException>(() => ArtifactKeys.For("training", Guid.Empty, AbcSha256, "f"));

    [Fact]
    public void Combine_hashes_the_parts_joined_by_newlines_in_order()
    {
        Assert.Equal(ArtifactKeys.Sha256OfText("a\nb"), ArtifactKeys.Combine("a", "b"));
        Assert.NotEqual(ArtifactKeys.Combine("a", "b"), ArtifactKeys.Combine("b", "a"));
        Assert.Equal(ArtifactKeys.Combine("x", AbcSha256), ArtifactKeys.Combine("x", AbcSha256));
        Assert.Throws<ArgumentException>(() => ArtifactKeys.Combine("a\nb", "c"));
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("a/", true)]
    [InlineData("a/b", true)]
    [InlineData("/a", false)]
    [InlineData("a//", false)]
    [InlineData("../a", false)]
    public void Prefixes_may_end_with_a_slash_but_follow_the_key_rules(string prefix, bool valid)
    {
        var error = Record.Exception(() => ArtifactKeys.ValidatePrefix(prefix));
        Assert.Equal(valid, error is null);
    }

    [Fact]
    public void Keys_past_the_clients_length_limit_are_rejected()
    {
        ArtifactKeys.ValidateKey(new string('a', ArtifactKeys.MaxKeyChars));
        Assert.Throws<ArgumentException>(() => ArtifactKeys.ValidateKey(new string('a', ArtifactKeys.MaxKeyChars + 1)));
        Assert.Throws<ArgumentException>(() => ArtifactKeys.ValidateKey(new string('é', 600)));
    }
}
