// The tiny pre-trained base model the tests serve and fine-tune: built once per machine (about 20 s), cached under the
// temp folder; concurrent test processes wait for one build (TinyBaseModel.EnsureAsync locks the cache entry).
// Linked into the test projects that reference FineTune.Demo.
using FineTune.Demo;

namespace FineTune.Tests;

public static class TestBaseModel
{
    static readonly SemaphoreSlim Gate = new(1, 1);

    public static readonly TinyBaseModelOptions Options = new()
    {
        Name = "test-base", Dim = 48, Layers = 2, Heads = 4, KvHeads = 2, Hidden = 128, Context = 256, Vocab = 384,
        CorpusBytes = 300_000, Steps = 60, Batch = 8, Lr = 3e-3, Threads = 2,
    };

    /// <summary>The model's directory (Hugging Face layout with its tokenizer).</summary>
    public static async Task<string> DirectoryAsync()
    {
        await Gate.WaitAsync();
        try
        {
            return await TinyBaseModel.EnsureAsync(Path.Combine(Path.GetTempPath(), "finetune-test-cache"),
                Options, null, CancellationToken.None);
        }
        finally
        {
            Gate.Release();
        }
    }
}
