// A base model in memory: its weights (CpuLlama), tokenizer, chat template, stop tokens, and the scheduler that batches
// every request over it — for the base itself and for each adapter served on top of it.
using FineTune.Models;
using FineTune.Models.Adapters;
using FineTune.Models.Checkpoints;
using FineTune.Models.Inference;
using FineTune.Text;
using Microsoft.Extensions.Logging;

namespace FineTune.Serving.Engine;

public sealed class LoadedModel : IDisposable
{
    LoadedModel(string path, CpuLlama model, TextTokenizer tokenizer, BatchScheduler scheduler)
    {
        Path = path;
        Model = model;
        Tokenizer = tokenizer;
        Scheduler = scheduler;
        StopIds = [.. model.Config.EosTokenIds.Concat(tokenizer.StopIds).Concat(tokenizer.EosId is { } eos ? [eos]
            : []).Distinct()];
        Structured = new StructuredOutputs(tokenizer, StopIds);
    }

    public string Path { get; }
    public CpuLlama Model { get; }
    public TextTokenizer Tokenizer { get; }
    public BatchScheduler Scheduler { get; }
    public IReadOnlyList<int> StopIds { get; }
    /// <summary>The response formats (JSON, a schema) requests over this model have asked for.</summary>
    public StructuredOutputs Structured { get; }
    public ChatTemplate? ChatTemplate => Tokenizer.ChatTemplate;
    public LlamaConfig Config => Model.Config;

    /// <summary>
    /// Loads a Hugging Face model directory (config.json, *.safetensors, tokenizer files) or a llama2.c .bin with a
    /// tokenizer beside it. <paramref name="mergeAdapter"/> merges a PEFT adapter into the weights first (DoRA, IA3,
    /// or a LoRA served as its own merged model).
    /// </summary>
    public static LoadedModel Load(string path, ServingOptions options, ServingMetrics metrics, ILogger logger,
        string? tokenizerPath = null, string? mergeAdapter = null)
    {
        CpuLlama model;
        var adapter = mergeAdapter is null ? null : PeftAdapter.Load(mergeAdapter);
        var load = new CpuLlamaOptions
        {
            Threads = options.Threads, Int8 = options.Int8,
            Bf16KvCache = options.Bf16KvCache, Int8Activations = options.Int8Activations
        }.WithDtype(options.Dtype);
        if (HfCheckpoint.IsCheckpointDirectory(path))
        {
            using var checkpoint = HfCheckpoint.Open(path);
            model = adapter is null ? CpuLlama.Load(checkpoint, load)
                : CpuLlama.Load(checkpoint.Config, adapter.MergeInto(checkpoint.Read, mergeAdapter!), load);
        }
        else if (File.Exists(path))
        {
            var (config, tensors) = Llama2cCheckpoint.Read(path);
            var byName = tensors.ToDictionary(t => t.Name);
            Func<string, TensorData> read = name => byName[name];
            model = CpuLlama.Load(config, adapter is null ? read : adapter.MergeInto(read, mergeAdapter!), load);
        }
        else
            throw new ModelFormatException($"model not found at '{path}': expected a Hugging Face model directory " +
                $"(config.json + *.safetensors) or a llama2.c .bin file.");

        TextTokenizer tokenizer;
        try
        {
            tokenizer = TokenizerLoader.Load(tokenizerPath ?? (Directory.Exists(path) ? path
                : System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!));
        }
        catch (Exception e) when (e is TokenizerLoadException or FileNotFoundException or DirectoryNotFoundException)
        {
            model.Dispose();
            throw new ModelFormatException($"no tokenizer for '{path}' ({e.Message}); put tokenizer files beside " +
                $"the model or pass --tokenizer.");
        }
        if (tokenizer.VocabSize > model.Config.VocabSize)
        {
            model.Dispose();
            throw new ModelFormatException($"the tokenizer has {tokenizer.VocabSize} tokens but the model's " +
                $"vocabulary is {model.Config.VocabSize}: they do not belong together.");
        }
        var scheduler = new BatchScheduler(model, options, metrics, logger,
            System.IO.Path.GetFileName(path.TrimEnd('/')));
        return new LoadedModel(path, model, tokenizer, scheduler);
    }

    /// <summary>Prepares a LoRA adapter to run unmerged over this base, one adapter per request.</summary>
    public CpuLoraAdapter PrepareAdapter(string directory) => Model.PrepareLora(PeftAdapter.Load(directory), directory);

    /// <summary>Stops taking requests, lets the running ones finish, then frees the weights.</summary>
    public async Task RetireAsync()
    {
        Scheduler.Drain();
        await Scheduler.Stopped.ConfigureAwait(false);
        Model.Dispose();
    }

    public void Dispose()
    {
        Scheduler.Dispose();
        Model.Dispose();
    }
}
