// A small random-weight Llama in Hugging Face layout with a byte-level BPE tokenizer (ChatML template) trained on the
// spot, and a random LoRA adapter for it: everything the server loads, made in about a second.
using FineTune.Models;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Text;

namespace FineTune.Serving.Tests;

public sealed class TestModel : IDisposable
{
    readonly TempDir _dir = new();
    public string ModelDirectory => Path.Combine(_dir.Path, "tiny-chat");
    public string AdapterDirectory => Path.Combine(_dir.Path, "adapter-support");
    public string OtherAdapterDirectory => Path.Combine(_dir.Path, "adapter-legal");
    public LlamaConfig Config { get; }

    public TestModel()
    {
        var words = ("the a cat dog sat ran on mat park sun moon tree bird sang happy little big red blue green " +
            "story time once upon day night").Split(' ');
        var rng = new Random(1);
        var documents = Enumerable.Range(0,
            300).Select(_ =>
            string.Join(' ', Enumerable.Range(0, 12).Select(_ => words[rng.Next(words.Length)])) + ".").ToList();
        var bpe = BpeTrainer.Train(documents, new BpeTrainerOptions { VocabSize = 320, ModelMaxLength = 96 });
        bpe.SaveAsync(ModelDirectory).GetAwaiter().GetResult();
        Config = new LlamaConfig
        {
            HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            VocabSize = bpe.VocabSize, MaxPositionEmbeddings = 96, RmsNormEps = 1e-5, TieWordEmbeddings = true,
            BosTokenId = bpe.BosId, EosTokenIds = [bpe.EosId],
        };
        var tensors = LlamaWeights.Random(Config, seed: 7, std: 0.3f);
        var byName = tensors.ToDictionary(t => t.Name);
        HfCheckpoint.Save(ModelDirectory, Config, tensors.Select(t => t.Info).ToList(),
            info => byName[info.Name].Bytes);
        WriteAdapter(AdapterDirectory, seed: 11);
        WriteAdapter(OtherAdapterDirectory, seed: 12);
    }

    void WriteAdapter(string directory, int seed)
    {
        var rng = new Random(seed);
        float[] Values(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        var modules = new Dictionary<string, (float[], float[], float[]?)>();
        var shapes = new Dictionary<string, (long, long)>();
        for (int l = 0; l < Config.NumHiddenLayers; l++)
            foreach (var (name, outF, inF) in new[] { ("self_attn.q_proj", 64L, 64L), ("self_attn.v_proj", 32L, 64L),
                ("mlp.down_proj", 64L, 128L) })
            {
                modules[$"model.layers.{l}.{name}"] = (Values(4 * inF), Values(outF * 4), null);
                shapes[$"model.layers.{l}.{name}"] = (outF, inF);
            }
        PeftAdapter.Save(directory,
            new PeftConfig { R = 4, LoraAlpha = 8, TargetModules = ["q_proj", "v_proj", "down_proj"] }, modules,
            shapes);
    }

    public void Dispose() => _dir.Dispose();
}
