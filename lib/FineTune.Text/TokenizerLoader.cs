// Entry point: finds the tokenizer files in a checkpoint directory (or takes one file), picks the
// right implementation, and applies special tokens, stop ids and chat template from the config files.
namespace FineTune.Text;

public static class TokenizerLoader
{
    public static TextTokenizer Load(string fileOrDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fileOrDirectory);
        string path = Path.GetFullPath(fileOrDirectory);
        if (Directory.Exists(path))
            return LoadDirectory(path);
        if (File.Exists(path))
            return LoadFile(path, Path.GetDirectoryName(path)!);
        throw new TokenizerLoadException($"{path}: no such file or directory (expected a tokenizer file or a model " +
            $"directory " +
            "with tokenizer.json, tokenizer.model, vocab.json+merges.txt or *.tiktoken)");
    }

    private static TextTokenizer LoadDirectory(string dir)
    {
        string json = Path.Combine(dir, "tokenizer.json"), model = Path.Combine(dir, "tokenizer.model");
        string vocab = Path.Combine(dir, "vocab.json"), merges = Path.Combine(dir, "merges.txt");
        if (File.Exists(json))
        {
            try
            {
                return LoadFile(json, dir);
            }
            // A SentencePiece-style tokenizer.json (Llama 2, Mistral) usually ships next to its tokenizer.model.
            catch (TokenizerLoadException) when (File.Exists(model))
            {
                return LoadFile(model, dir);
            }
        }
        if (File.Exists(model))
            return LoadFile(model, dir);
        if (File.Exists(vocab) && File.Exists(merges))
            return LoadFile(vocab, dir);
        string? tiktoken = Directory.EnumerateFiles(dir, "*.tiktoken").Order(StringComparer.Ordinal).FirstOrDefault();
        if (tiktoken is not null)
            return LoadFile(tiktoken, dir);
        string? bin = Directory.EnumerateFiles(dir, "tok*.bin").Order(StringComparer.Ordinal).FirstOrDefault();
        if (bin is not null)
            return LoadFile(bin, dir);
        throw new TokenizerLoadException($"{dir}: no tokenizer found; expected tokenizer.json, tokenizer.model, " +
            $"vocab.json + merges.txt, " +
            "a *.tiktoken file or a llama2.c tokenizer.bin in this directory");
    }

    private static TextTokenizer LoadFile(string file, string configDir)
    {
        var settings = TokenizerSettings.Read(configDir);
        string name = Path.GetFileName(file).ToLowerInvariant();
        try
        {
            if (name == "vocab.json")
            {
                string merges = Path.Combine(Path.GetDirectoryName(file)!, "merges.txt");
                if (!File.Exists(merges))
                    throw new TokenizerLoadException($"{file}: vocab.json needs merges.txt next to it ({merges} not " +
                        $"found)");
                return Finish(ByteLevelBpeLoader.FromVocabAndMerges(file, merges, settings), settings, null, null,
                    null);
            }
            if (name.EndsWith(".json", StringComparison.Ordinal))
                return Finish(ByteLevelBpeLoader.FromTokenizerJson(file, settings), settings, null, null, null);
            if (name.EndsWith(".tiktoken", StringComparison.Ordinal) || name.EndsWith(".model",
                StringComparison.Ordinal) && TiktokenFileLoader.LooksLikeTiktoken(file))
                return Finish(TiktokenFileLoader.Load(file, settings), settings, null, null, null);
            if (name.EndsWith(".model", StringComparison.Ordinal))
                return FromSentencePiece(SentencePieceModel.Parse(File.ReadAllBytes(file), file), file, settings);
            if (name.EndsWith(".bin", StringComparison.Ordinal))
                return FromSentencePiece(Llama2cTokenizerConverter.ToModel(file), file, settings);
        }
        catch (IOException e)
        {
            throw new TokenizerLoadException($"{file}: cannot read ({e.Message})");
        }
        throw new TokenizerLoadException($"{file}: unrecognized tokenizer file; expected tokenizer.json, " +
            $"vocab.json, tokenizer.model, *.tiktoken or a llama2.c tokenizer.bin");
    }

    private static TextTokenizer FromSentencePiece(SentencePieceModel model, string file, TokenizerSettings settings)
    {
        int? Valid(int id) => id >= 0 && id < model.Pieces.Count ? id : null;
        return Finish(new SentencePieceTokenizer(model, file), settings, Valid(model.BosId), Valid(model.EosId),
            Valid(model.PadId));
    }

    private static TextTokenizer Finish(TextTokenizer core, TokenizerSettings s, int? bos, int? eos, int? pad)
    {
        bos = s.Resolve(core.TokenToId, s.BosToken, "bos_token") ?? s.GenerationBosId ?? bos;
        eos = s.Resolve(core.TokenToId, s.EosToken, "eos_token") ?? eos;
        pad = s.Resolve(core.TokenToId, s.PadToken, "pad_token") ?? s.GenerationPadId ?? pad;
        var stops = new List<int>();
        if (eos is { } e)
            stops.Add(e);
        stops.AddRange(s.GenerationEosIds);
        foreach (string t in TokenizerSettings.EndOfTurnTokens)
            if (core.TokenToId(t) is { } id)
                stops.Add(id);
        stops = [.. stops.Distinct()];
        var template = ChatTemplate.Detect(s.ChatTemplateText);
        return core switch
        {
            SentencePieceTokenizer sp =>
                new SentencePieceTokenizer(sp)
                {
                    BosId = bos, EosId = eos, PadId = pad, StopIds = stops,
                    ChatTemplate = template
                },
            TiktokenBackedTokenizer tk =>
                new TiktokenBackedTokenizer(tk)
                {
                    BosId = bos, EosId = eos, PadId = pad, StopIds = stops,
                    ChatTemplate = template
                },
            _ => throw new InvalidOperationException($"unexpected tokenizer type {core.GetType().Name}"),
        };
    }
}
