// A batch must never need more positions than the model has: a full-context single-token request and a multi-token
// request together would overflow if batched naively.
using FineTune.Models;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;

namespace FineTune.Evals.Tests.Suites;

public class LogLikelihoodBatchingTests
{
    [Fact]
    public void Full_context_and_multi_token_requests_are_batched_within_the_context()
    {
        var config = new LlamaConfig
        {
            HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 2,
            VocabSize = 50, MaxPositionEmbeddings = 32, TieWordEmbeddings = true,
        };
        var weights = LlamaWeights.Random(config, 9, std: 0.2f).ToDictionary(t => t.Name);
        using var model = CpuLlama.Load(config, n => weights[n], threads: 1);
        var longContext = Enumerable.Range(1, 40).Select(i => i % 50).ToArray();          // trimmed to the context
        LogLikelihoodRequest[] requests =
        [
            new(longContext, [7]),
            new([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
                [3, 4, 5, 6]),
        ];
        var batched = LogLikelihood.Compute(model, requests, batchSize: 8);
        var alone = requests.Select(r => LogLikelihood.Compute(model, [r], batchSize: 1)[0]).ToArray();
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(alone[i].LogProb, batched[i].LogProb, 4);
    }
}
