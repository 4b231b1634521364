// Exact de-duplication (case/spacing-insensitive, role-sensitive) and MinHash/LSH near-duplicates with texts whose
// shingle overlap is known: replacing the last k of N distinct words changes exactly k of the N−4 five-word shingles.
using FineTune.Data.Cleaning;
using static FineTune.Data.Tests.Cleaning.TestRecords;

namespace FineTune.Data.Tests.Cleaning;

public class DeduplicationTests
{
    [Fact]
    public void Exact_duplicates_differ_only_in_case_spacing_or_compatibility_forms()
    {
        var dedup = new ExactDeduplicator();
        Assert.True(dedup.TryAdd(Chat(1, "What is  the CAPITAL of France?", "Paris."), out _));
        Assert.False(dedup.TryAdd(Chat(2, "what is the capital\nof france? ", "  PARIS."), out var first));
        Assert.Equal(1, first);
        Assert.False(dedup.TryAdd(Chat(3, "\uFF37hat is the capital of France?", "Paris."), out _));   // full-width W
        Assert.Equal(1, dedup.Count);
    }

    [Fact]
    public void Exact_duplicates_take_roles_and_words_into_account()
    {
        var dedup = new ExactDeduplicator();
        Assert.True(dedup.TryAdd(Chat(1, "hello", "world"), out _));
        Assert.True(dedup.TryAdd(Chat(2, "world", "hello"), out _));         // swapped roles
        Assert.True(dedup.TryAdd(Chat(3, "hello", "world!"), out _));        // punctuation is content
        Assert.True(dedup.TryAdd(TextRecord(4, "hello world"), out _));
        Assert.Equal(4, dedup.Count);
    }

    static DataRecord Document(long line, int changedTail, int words = 200) =>
        TextRecord(line,
            string.Join(' ', Words(0, words - changedTail).Concat(Words(10_000 + (int)line * 1000, changedTail))));

    // N = 200 words → 196 shingles (+1 for the "<text>" role marker, shared). Changing the last k words leaves
    // 197 − k shared: Jaccard = (197 − k) / (197 + k). k = 10 → 0.904; k = 65 → 0.504.
    static double ExactJaccard(int k) => (197.0 - k) / (197.0 + k);

    [Fact]
    public void Near_duplicates_at_0_9_are_caught_and_at_0_5_are_not()
    {
        var index = new NearDuplicateIndex();
        Assert.True(index.TryAdd(Document(1, 0), out _));
        Assert.True(ExactJaccard(10) is > 0.9 and < 0.91);
        Assert.False(index.TryAdd(Document(2, 10), out var of));
        Assert.Equal(1, of);
        Assert.True(ExactJaccard(65) is > 0.5 and < 0.51);
        Assert.True(index.TryAdd(Document(3, 65), out _));
        Assert.Equal(2, index.Count);
    }

    [Fact]
    public void Estimated_jaccard_tracks_the_true_shingle_overlap()
    {
        var index = new NearDuplicateIndex();
        var original = index.Signature(Document(1, 0))!;
        foreach (var k in new[] { 0, 10, 30, 65, 120 })
        {
            var estimate = NearDuplicateIndex.EstimateJaccard(original, index.Signature(Document(2, k))!);
            // 128 permutations: standard error ≤ 0.045; 3 standard errors of slack.
            Assert.InRange(estimate, ExactJaccard(k) - 0.135, ExactJaccard(k) + 0.135);
        }
    }

    [Fact]
    public void Near_duplicates_ignore_case_and_punctuation_and_first_seen_wins()
    {
        var index = new NearDuplicateIndex();
        var text = string.Join(' ', Words(0, 60));
        Assert.True(index.TryAdd(TextRecord(5, text), out _));
        Assert.False(index.TryAdd(TextRecord(9, text.ToUpperInvariant().Replace(" ", ", ")), out var of));
        Assert.Equal(5, of);
        Assert.False(index.TryAdd(TextRecord(12, text + " w60"), out of));   // 57 of 58 shingles shared
        Assert.Equal(5, of);
    }

    [Fact]
    public void Signatures_are_deterministic_across_index_instances_and_pinned()
    {
        var record = Chat(1, "Explain the difference between TCP and UDP in two sentences.",
            "TCP is reliable; UDP is not.");
        var a = new NearDuplicateIndex().Signature(record)!;
        var b = new NearDuplicateIndex().Signature(record)!;
        Assert.Equal(128, a.Length);
        Assert.Equal(a, b);
        Assert.NotEqual(a, new NearDuplicateIndex(new NearDuplicateOptions { Seed = 1 }).Signature(record));
        // Published FNV-1a 64 vectors: the base hash does not depend on process, runtime or machine.
        Assert.Equal(0xaf63dc4c8601ec8cUL, StableHash.Fnv1a64("a"));
        Assert.Equal(0x85944171f73967e8UL, StableHash.Fnv1a64("foobar"));
    }

    [Fact]
    public void Banding_matches_the_threshold_on_the_s_curve()
    {
        var banding = new NearDuplicateIndex().Banding;
        Assert.Equal(new LshBanding(18, 7), banding);
        Assert.True(banding.CandidateProbability(0.8) >= LshBanding.RecallAtThreshold);
        Assert.True(banding.CandidateProbability(0.5) < 0.15);
        var strict = LshBanding.Choose(0.95, 128);
        Assert.True(strict.Rows > banding.Rows, "a higher threshold needs more rows per band");
        Assert.Throws<ArgumentException>(() => new NearDuplicateIndex(new NearDuplicateOptions
        {
            Bands = 20,
            Rows = 10
        }));
    }
}
