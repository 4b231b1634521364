// The prompt profile the data card keeps, and the drift scores between two profiles: near zero for two samples of one
// distribution, past the alert thresholds for longer prompts, other words, another script or another language in the
// same script; the language of a prompt; live labels against the training labels.
using FineTune.Data;
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
        Assert.Equal(profile.Languages, read.Languages);
        Assert.Equal(new DriftScores(0, 0, 0, 0, 0), read.Compare(read));
        Assert.True(profile.Compare(read).WordJs < 1e-9);
    }

    [Theory]
    [InlineData("Where is my order? It was due on Monday and the tracking page does not work.", "en")]
    [InlineData("¿Dónde está mi pedido? Tenía que llegar el lunes y la página de seguimiento no funciona.", "es")]
    [InlineData("Où est ma commande ? Elle devait arriver lundi et la page de suivi ne marche pas.", "fr")]
    [InlineData("Wo ist meine Bestellung? Sie sollte am Montag ankommen und die Seite geht nicht.", "de")]
    [InlineData("Onde está o meu pedido? Era para chegar na segunda e a página não funciona.", "pt")]
    [InlineData("Dov'è il mio ordine? Doveva arrivare lunedì e la pagina non funziona, perché?", "it")]
    [InlineData("Waar is mijn bestelling? Het zou maandag komen en de pagina werkt niet.", "nl")]
    [InlineData("Где мой заказ? Он должен был прийти.", "cyrillic")]
    [InlineData("注文した商品はどこですか", "cjk")]
    [InlineData("Kubernetes pod crashloop backoff", "latin")]
    [InlineData("12345 ?!", "none")]
    public void A_prompt_s_language_is_told_by_its_script_and_function_words(string prompt, string language) =>
        Assert.Equal(language, PromptLanguage.Detect(prompt));

    [Fact]
    public void Another_language_in_the_same_script_shifts_the_languages_not_the_scripts()
    {
        string[] english = ["where is my order please", "the card was charged twice", "how do I change my address"];
        string[] spanish = ["dónde está mi pedido por favor", "la tarjeta se cobró dos veces",
            "cómo cambio mi dirección de envío"];
        var reference = Profile(7, r => english[r.Next(3)] + " " + r.Next(1000));
        var same = reference.Compare(Profile(8, r => english[r.Next(3)] + " " + r.Next(1000)));
        Assert.Equal(0, same.LanguageShift!.Value, 9);
        var other = reference.Compare(Profile(9, r => spanish[r.Next(3)] + " " + r.Next(1000)));
        Assert.True(other.ScriptShift < 0.01, other.ToString());
        Assert.Equal(1, other.LanguageShift!.Value, 9);

        // a card written before languages were kept gives no language score, not a false alarm
        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream))
            reference.WriteTo(w);
        var node = System.Text.Json.Nodes.JsonNode.Parse(stream.ToArray())!.AsObject();
        node.Remove("languages");
        var old = PromptProfile.Read(System.Text.Json.JsonDocument.Parse(node.ToJsonString()).RootElement);
        Assert.Null(old.Compare(Profile(9, r => spanish[r.Next(3)])).LanguageShift);
    }

    [Fact]
    public void Live_labels_are_measured_against_the_training_labels()
    {
        static DataRecord Record(string label, string answer) => new()
        {
            Kind = RecordKind.Chat, Line = 1, Label = label,
            Messages = [new Message("user", "my parcel is late"), new Message("assistant", answer)],
        };
        string[] labels = ["Refund", "Shipping", "Account"], answers = [" refund", "SHIPPING", "account "];
        var trained = LabelDistribution.Of(Enumerable.Range(0, 300).Select(i => Record(labels[i % 3],
            answers[i % 3])));
        Assert.True(trained.AnswersAreLabels);                  // answers match their label, case and spaces aside
        Assert.False(LabelDistribution.Of(Enumerable.Range(0, 10).Select(i => Record("refund",
            "We are sorry, a refund is on its way."))).AnswersAreLabels);

        var same = trained.Compare(["refund", "Shipping", "account", "refund", "shipping", "account"]);
        Assert.Equal((0.0, 0.0), (same.Unseen, Math.Round(same.Shift, 9)));
        var skewed = trained.Compare(["refund", "refund", "refund", "refund"]);
        Assert.Equal((0.0, 0.667), (skewed.Unseen, Math.Round(skewed.Shift, 3)));
        var unseen = trained.Compare(["refund", "warranty", "billing", "billing"]);
        Assert.Equal((0.75, 0.75), (unseen.Unseen, Math.Round(unseen.Shift, 3)));

        using var stream = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(stream))
            trained.WriteTo(w);
        var read = LabelDistribution.Read(System.Text.Json.JsonDocument.Parse(stream.ToArray()).RootElement);
        Assert.Equal(trained.Counts, read.Counts);
        Assert.True(read.AnswersAreLabels);
        Assert.Equal(unseen, read.Compare(["refund", "warranty", "billing", "billing"]));
    }
}
