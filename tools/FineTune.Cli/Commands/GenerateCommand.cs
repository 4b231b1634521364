// finetune generate MODEL --prompt TEXT [--chat] [--max-new-tokens N] [--temperature T] [--top-p P] [--seed S] ...
// Streams the continuation of each prompt. --prompt-ids/--show-ids work with token ids, for checkpoints without a
// tokenizer.
using System.CommandLine;
using FineTune.Models.Checkpoints;
using FineTune.Models.Generation;
using FineTune.Text;
using FineTune.Torch;

namespace FineTune.Cli.Commands;

static class GenerateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var model = new Argument<string>("model")
        {
            Description = "Hugging Face model directory or llama2.c .bin file"
        };
        var prompts = new Option<string[]>("--prompt", "-p")
        {
            Description = "Prompt text (repeat for a batch)",
            AllowMultipleArgumentsPerToken = false
        };
        var promptIds = new Option<string[]>("--prompt-ids")
        {
            Description = "Prompt as comma-separated token ids, e.g. 1,300,301 (repeat for a batch)"
        };
        var chat = new Option<bool>("--chat")
        {
            Description = "Format the prompt as a user message with the model's chat template"
        };
        var system = new Option<string?>("--system") { Description = "System message (with --chat)" };
        var template = new Option<string?>("--chat-template")
        {
            Description = "Override the chat template: chatml, llama2, llama3, alpaca"
        };
        var tokenizerPath = new Option<string?>("--tokenizer")
        {
            Description = "Tokenizer file or directory, when the model directory has none"
        };
        var maxNew = new Option<int>("--max-new-tokens", "-n")
        {
            Description = "Maximum tokens to generate",
            DefaultValueFactory = _ => 128
        };
        var temperature = new Option<float>("--temperature", "-t")
        {
            Description = "Sampling temperature; 0 = greedy",
            DefaultValueFactory = _ => 0f
        };
        var topK = new Option<int>("--top-k") { Description = "Keep only the k most likely tokens (0 = off)" };
        var topP = new Option<float>("--top-p")
        {
            Description = "Nucleus sampling mass (1 = off)",
            DefaultValueFactory = _ => 1f
        };
        var repetition = new Option<float>("--repetition-penalty")
        {
            Description = "Penalty > 1 for tokens already present", DefaultValueFactory = _ => 1f
        };
        var seed = new Option<int?>("--seed", "-s") { Description = "Random seed for sampling" };
        var stops = new Option<string[]>("--stop") { Description = "Stop when this text appears (repeatable)" };
        var showIds = new Option<bool>("--show-ids") { Description = "Print the generated token ids as a JSON array" };
        var noBos = new Option<bool>("--no-bos") { Description = "Do not prepend the BOS token to text prompts" };
        var special = new Option<bool>("--special")
        {
            Description = "Read special-token text in a --prompt (not --chat content) as control tokens"
        };
        var engine = new Option<EngineKind>("--engine")
        {
            Description =
                "Inference engine: auto, cpu (managed float32) or torch", DefaultValueFactory = _ => EngineKind.Auto
        };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0 = all cores)" };
        var adapter = new Option<string?>("--adapter")
        {
            Description = "PEFT LoRA/DoRA adapter directory, merged into the weights at load"
        };

        var command = new Command("generate", "Generate text (or token ids) from a prompt.")
        {
            model, prompts, promptIds, chat, system, template, tokenizerPath, maxNew, temperature, topK, topP,
            repetition, seed, stops, showIds, noBos, special, engine, threads, adapter,
        };
        command.SetAction(async (parse, ct) =>
        {
            var modelPath = parse.GetValue(model)!;
            var texts = parse.GetValue(prompts) ?? [];
            var idLists = parse.GetValue(promptIds) ?? [];
            if (texts.Length == 0 && idLists.Length == 0)
                throw new ArgumentException("give a prompt: --prompt \"text\" or --prompt-ids 1,300,301.");

            var inputs = new List<IReadOnlyList<int>>();
            foreach (var ids in idLists)
                inputs.Add(ParseIds(ids));
            var tokenizer = LoadTokenizer(modelPath, parse.GetValue(tokenizerPath),
                required: texts.Length > 0 || parse.GetValue(stops)?.Length > 0);
            using var lm = Engines.Open(modelPath, parse.GetValue(engine), parse.GetValue(threads),
                parse.GetValue(adapter));
            if (tokenizer is not null && tokenizer.VocabSize > lm.Config.VocabSize)
                throw new ArgumentException($"the tokenizer has {tokenizer.VocabSize} tokens but the model's " +
                    $"vocabulary is {lm.Config.VocabSize} (config.json vocab_size): they do not belong together.");

            foreach (var text in texts)
                inputs.Add(EncodePrompt(tokenizer!, text, parse.GetValue(chat), parse.GetValue(system),
                    parse.GetValue(template), parse.GetValue(noBos),
                    parse.GetValue(special)));

            var stopIds = lm.Config.EosTokenIds.Concat(tokenizer?.StopIds ?? []).Distinct().ToArray();
            var options = new GenerationOptions
            {
                MaxNewTokens = parse.GetValue(maxNew),
                Temperature = parse.GetValue(temperature),
                TopK = parse.GetValue(topK),
                TopP = parse.GetValue(topP),
                RepetitionPenalty = parse.GetValue(repetition),
                Seed = parse.GetValue(seed),
                StopTokenIds = stopIds,
                StopStrings = parse.GetValue(stops) ?? [],
            };
            Func<IReadOnlyList<int>, string>? detokenize = tokenizer is null ? null : ids => tokenizer.Decode(ids);
            var generator = new Generator(lm);

            if (inputs.Count == 1)
                await StreamOne(generator, inputs[0], options, tokenizer, detokenize, parse.GetValue(showIds), stdout,
                    ct);
            else
                await PrintBatch(generator, inputs, options, detokenize, parse.GetValue(showIds), stdout, ct);
            return 0;
        });
        return command;
    }

    static async Task StreamOne(Generator generator, IReadOnlyList<int> prompt, GenerationOptions options,
        TextTokenizer? tokenizer,
        Func<IReadOnlyList<int>, string>? detokenize, bool showIds, TextWriter stdout, CancellationToken ct)
    {
        var ids = new List<int>();
        var decoder = tokenizer?.CreateStreamDecoder();
        var stopBuffer = new StopStringBuffer(options.StopStrings);
        await foreach (var token in generator.StreamAsync([prompt], options, detokenize, ct))
        {
            if (token.TokenId < 0)
                continue;
            ids.Add(token.TokenId);
            if (decoder is null || options.StopTokenIds.Contains(token.TokenId))
                continue;
            await stdout.WriteAsync(stopBuffer.Push(decoder.Push(token.TokenId)));
            await stdout.FlushAsync(ct);
        }
        if (decoder is not null)
        {
            await stdout.WriteAsync(stopBuffer.Push(decoder.Flush()) + stopBuffer.Flush());
            await stdout.WriteLineAsync();
        }
        if (showIds || decoder is null)
            await stdout.WriteLineAsync($"ids: [{string.Join(", ", ids)}]");
    }

    static async Task PrintBatch(Generator generator, List<IReadOnlyList<int>> inputs, GenerationOptions options,
        Func<IReadOnlyList<int>, string>? detokenize, bool showIds, TextWriter stdout, CancellationToken ct)
    {
        var results = await generator.GenerateAsync(inputs, options, detokenize, ct);
        for (int i = 0; i < results.Count; i++)
        {
            await stdout.WriteLineAsync($"--- {i} ({results[i].Finish.ToString().ToLowerInvariant()}) ---");
            if (results[i].Text is { } text)
                await stdout.WriteLineAsync(text);
            if (showIds || results[i].Text is null)
                await stdout.WriteLineAsync($"ids: [{string.Join(", ", results[i].Tokens)}]");
        }
    }

    static TextTokenizer? LoadTokenizer(string modelPath, string? explicitPath, bool required)
    {
        if (explicitPath is not null)
            return TokenizerLoader.Load(explicitPath);
        if (HfCheckpoint.IsCheckpointDirectory(modelPath) && HasTokenizerFiles(modelPath))
            return TokenizerLoader.Load(modelPath);
        if (required)
            throw new ArgumentException($"no tokenizer found for '{modelPath}': pass --tokenizer FILE, convert the " +
                $"checkpoint with --tokenizer, or give --prompt-ids.");
        return null;
    }

    static bool HasTokenizerFiles(string dir) =>
        new[] { "tokenizer.json", "tokenizer.model", "vocab.json" }.Any(f => File.Exists(Path.Combine(dir, f)))
        || Directory.GetFiles(dir, "*.tiktoken").Length > 0;

    static int[] ParseIds(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out ids[i]) || ids[i] < 0)
                throw new ArgumentException($"--prompt-ids: '{parts[i]}' (item {i + 1}) is not a non-negative " +
                    $"integer token id.");
        if (ids.Length == 0)
            throw new ArgumentException("--prompt-ids: give at least one token id, e.g. 1.");
        return ids;
    }

    static IReadOnlyList<int> EncodePrompt(TextTokenizer tokenizer, string text, bool chat, string? system,
        string? templateName, bool noBos,
        bool special)
    {
        if (!chat)
            return tokenizer.Encode(text, special ? SpecialTokenText.Parse : SpecialTokenText.Literal,
                addBos: !noBos && tokenizer.BosId is not null);
        var template = templateName is not null ? ChatTemplate.For(ChatTemplate.Parse(templateName))
            : tokenizer.ChatTemplate
                ?? throw new ArgumentException("the tokenizer has no chat template: pass --chat-template " +
                "chatml|llama2|llama3|alpaca.");
        var messages = new List<ChatMessage>();
        if (system is not null)
            messages.Add(new ChatMessage("system", system));
        messages.Add(new ChatMessage("user", text));
        return ChatPrompt.Encode(tokenizer, template, messages, addBos: !noBos);
    }
}
