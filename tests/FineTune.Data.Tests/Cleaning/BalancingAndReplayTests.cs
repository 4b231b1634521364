// Label distribution, oversampling / loss weights, and replay mixing: counts and determinism.
using FineTune.Data.Cleaning;
using static FineTune.Data.Tests.Cleaning.TestRecords;

namespace FineTune.Data.Tests.Cleaning;

public class BalancingAndReplayTests
{
    static List<DataRecord> Labelled() =>
    [
        .. Enumerable.Range(1, 6).Select(i => Chat(i, $"a{i}", "x", label: "billing")),
        .. Enumerable.Range(7, 2).Select(i => Chat(i, $"b{i}", "x", label: "refund")),
        .. Enumerable.Range(9, 3).Select(i => Chat(i, $"c{i}", "x", label: "other")),
        Chat(12, "no label", "x"),
    ];

    [Fact]
    public void Label_distribution_counts_labels_and_unlabelled_records()
    {
        var distribution = LabelDistribution.Of(Labelled());
        Assert.Equal(new Dictionary<string, long> { ["billing"] = 6, ["other"] = 3, ["refund"] = 2 },
            distribution.Counts);
        Assert.Equal((1L, 12L, "billing", 6L),
            (distribution.Unlabeled, distribution.Total, distribution.Majority, distribution.MajorityCount));
    }

    [Fact]
    public void Oversampling_raises_every_label_to_the_majority_count_evenly()
    {
        var result = new Balancer(new BalanceOptions { Mode = BalanceMode.Oversample }).Balance(Labelled());
        Assert.Equal(new Dictionary<string, long> { ["billing"] = 6, ["other"] = 6, ["refund"] = 6 },
            result.After.Counts);
        Assert.Equal(1, result.After.Unlabeled);
        Assert.Equal(7, result.Added);
        Assert.Equal(19, result.Records.Count);
        // Two refund records to six: each appears exactly three times.
        Assert.All(result.Records.Where(r => r.Label == "refund").GroupBy(r => r.Line),
            g => Assert.Equal(3, g.Count()));
        Assert.Equal(result.Records.Select(r => r.Line),
            new Balancer(new BalanceOptions { Mode = BalanceMode.Oversample }).Balance(Labelled()).Records.Select(r =>
            r.Line));
    }

    [Fact]
    public void Loss_weights_are_majority_over_count_and_records_stay()
    {
        var records = Labelled();
        var result = new Balancer(new BalanceOptions { Mode = BalanceMode.LossWeights }).Balance(records);
        Assert.Equal(records, result.Records);
        Assert.Equal(new Dictionary<string, double> { ["billing"] = 1.0, ["other"] = 2.0, ["refund"] = 3.0 },
            result.Weights);
        Assert.Equal(3.0, result.WeightOf(records[6]));
        Assert.Equal(1.0, result.WeightOf(records[^1]));
    }

    static List<DataRecord> General(int count) =>
        Enumerable.Range(1, count).Select(i => Chat(i, $"general question {i}", $"general answer {i}")).ToList();

    [Fact]
    public void Replay_mixes_the_requested_share_into_train_deterministically()
    {
        var train = Enumerable.Range(1, 900).Select(i => Chat(i, $"task {i}", "x", label: "task")).ToList();
        var mixer = new ReplayMixer(new ReplayOptions { Fraction = 0.1, Seed = "s" });
        var result = mixer.Mix(train, General(5000));
        Assert.Equal((900L, 100L, 100L), (result.Train, result.Requested, result.Replayed));
        Assert.Equal(1000, result.Records.Count);
        Assert.Equal(train, result.Records.Where(r => r.Label == "task"));   // train order kept

        var reordered = mixer.Mix(train, General(5000).AsEnumerable().Reverse());
        Assert.Equal(result.Records.Where(r => r.Label is null).Select(r => r.Line).Order(),
                     reordered.Records.Where(r => r.Label is null).Select(r => r.Line).Order());
        var otherSeed = new ReplayMixer(new ReplayOptions { Fraction = 0.1, Seed = "t" }).Mix(train, General(5000));
        Assert.NotEqual(result.Records.Select(r => r.Line), otherSeed.Records.Select(r => r.Line));
        // Spread evenly: no run of more than 10 train records between replayed ones.
        var gaps = result.Records.Select((r, i) => (r, i)).Where(x => x.r.Label is null).Select(x => x.i).ToArray();
        Assert.All(gaps.Zip(gaps.Skip(1)), g => Assert.InRange(g.Second - g.First, 9, 11));
    }

    [Fact]
    public void Replay_takes_what_there_is_and_refuses_bad_fractions()
    {
        var train = Enumerable.Range(1, 90).Select(i => Chat(i, $"t{i}", "x")).ToList();
        var result = new ReplayMixer(new ReplayOptions { Fraction = 0.5 }).Mix(train, General(20));
        Assert.Equal((90L, 20L, 110), (result.Requested, result.Replayed, result.Records.Count));
        Assert.Same(train, new ReplayMixer().Mix(train, General(20)).Records);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplayMixer(new ReplayOptions { Fraction = 1.0 }));
    }
}
