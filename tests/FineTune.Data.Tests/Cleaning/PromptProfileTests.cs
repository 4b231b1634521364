// The prompt profile the data card keeps, and the drift scores between two profiles: near zero for two samples of one
// distribution, past the alert thresholds for longer prompts, other words or another script.
using FineTune.Data.Cleaning;

namespace FineTune.Data.Tests.Cleaning;

public sealed class PromptProfileTests
{
    static readonly string[] Words = "my parcel is late where is my order please refund the card was charged twice"
        .Split(' ');

    static PromptProfile Profile(int seed, Func<Random, string> prompt, int count = 400)
    {
        var random = new Random(seed);
        var profile = new PromptProfile();
        for (int i = 0; i < count; i++)
            profile.Add(prompt(random));
        return profile;
    }

    static string Short(Random r) => string.Join(' ', Enumerable.Range(0, r.Next(3, 8))
        .Select(_ => Words[r.Next(Words.Length)]));

    [Fact]
    public void One_distribution_scores_near_zero_and_a_shift_scores_past_the_thresholds()
    {
        var reference = Profile(1, Short);
        var same = reference.Compare(Profile(2, Short));
        Assert.True(same.LengthPsi < 0.05 && same.WordJs < 0.02 && same.ScriptShift < 0.01 && same.UnseenWords == 0,
            same.ToString());

        var longer = reference.Compare(Profile(3, r => string.Join(". ", Enumerable.Range(0, 12).Select(_ =>
            Short(r)))));
        Assert.True(longer.LengthPsi > 0.25, longer.ToString());
        Assert.True(longer.WordJs < 0.05, longer.ToString());     // the same words, only more of them

        var otherWords = reference.Compare(Profile(4, r => "kubernetes pod " + r.Next(100) + " crashloop backoff"));
        Assert.True(otherWords.WordJs > 0.3 && otherWords.UnseenWords > 0.9, otherWords.ToString());
        Assert.True(otherWords.ScriptShift < 0.01, otherWords.ToString());

        var otherScript = reference.Compare(Profile(5, r => "где мой заказ " + r.Next(100)));
        Assert.True(otherScript.ScriptShift > 0.9, otherScript.ToString());
    }

    [Fact]
    public void A_profile_reads_back_from_the_data_card_json_as_written()
    {
        var profile = Profile(6, Short);
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream))
            profile.WriteTo(w);
        var read = PromptProfile.Read(System.Text.Json.JsonDocument.Parse(stream.ToArray()).RootElement);
        Assert.Equal(profile.Prompts, read.Prompts);
        Assert.Equal(profile.Lengths, read.Lengths);
        Assert.Equal(profile.Scripts, read.Scripts);
        Assert.Equal(new DriftScores(0, 0, 0, 0), read.Compare(read));
        Assert.True(profile.Compare(read).WordJs < 1e-9);
    }
}
