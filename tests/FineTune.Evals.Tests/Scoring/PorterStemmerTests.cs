// The stemmer on words whose NLTK (NLTK_EXTENSIONS mode) stems are documented in the paper, nltk's docstrings, or
// traced by hand through the steps; the NLTK-only rules are covered separately so a switch to another mode fails.
using FineTune.Evals.Scoring;

namespace FineTune.Evals.Tests.Scoring;

public class PorterStemmerTests
{
    [Theory]
    [InlineData("caresses", "caress")]
    [InlineData("ponies", "poni")]
    [InlineData("caress", "caress")]
    [InlineData("cats", "cat")]
    [InlineData("feed", "feed")]
    [InlineData("agreed", "agre")]
    [InlineData("running", "run")]
    [InlineData("hopping", "hop")]
    [InlineData("mating", "mate")]
    [InlineData("meetings", "meet")]
    [InlineData("relational", "relat")]
    [InlineData("conditional", "condit")]
    [InlineData("generalization", "gener")]
    [InlineData("happy", "happi")]
    [InlineData("hopeful", "hope")]
    [InlineData("goodness", "good")]
    [InlineData("controll", "control")]
    [InlineData("roll", "roll")]
    [InlineData("adjustment", "adjust")]
    [InlineData("at", "at")]
    public void Porter_examples(string word, string stem) => Assert.Equal(stem, PorterStemmer.Stem(word));

    [Theory]
    [InlineData("skies", "sky")]     // irregular-form pool
    [InlineData("dying", "die")]
    [InlineData("news", "news")]
    [InlineData("proceed", "proceed")]
    [InlineData("dies", "die")]      // four-letter 'ies' -> 'ie' (original algorithm: "di")
    [InlineData("flies", "fli")]
    [InlineData("died", "die")]      // four-letter 'ied' -> 'ie'
    [InlineData("spied", "spi")]
    [InlineData("enjoy", "enjoy")]   // y -> i only after a consonant
    public void Nltk_extensions(string word, string stem) => Assert.Equal(stem, PorterStemmer.Stem(word));
}
