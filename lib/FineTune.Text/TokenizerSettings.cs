// Special tokens, stop ids and chat template as declared by tokenizer_config.json,
// special_tokens_map.json and generation_config.json next to the tokenizer files.
using System.Text.Json;

namespace FineTune.Text;

internal sealed class TokenizerSettings
{
    public string? BosToken, EosToken, PadToken, UnkToken;
    public string? ConfigPath;
    public int? GenerationBosId, GenerationPadId;
    public List<int> GenerationEosIds = [];
    public string? ChatTemplateText;
    public List<AddedToken> AddedTokensDecoder = [];

    /// <summary>End-of-turn markers that stop generation whenever the vocabulary has them.</summary>
    public static readonly string[] EndOfTurnTokens = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"];

    public static TokenizerSettings Read(string directory)
    {
        var s = new TokenizerSettings();
        string map = Path.Combine(directory, "special_tokens_map.json");
        if (File.Exists(map))
        {
            using var doc = JsonFile.Parse(map);
            s.ReadTokens(doc.RootElement);
        }
        string config = Path.Combine(directory, "tokenizer_config.json");
        if (File.Exists(config))
        {
            s.ConfigPath = config;
            using var doc = JsonFile.Parse(config);
            var root = doc.RootElement;
            s.ReadTokens(root);
            s.ChatTemplateText = root.Get("chat_template") switch
            {
                { ValueKind: JsonValueKind.String } t => t.GetString(),
                { ValueKind: JsonValueKind.Array } list => list.EnumerateArray()
                    .FirstOrDefault(x => x.GetString("name") == "default") is var d && d.ValueKind
                        == JsonValueKind.Object
                    ? d.GetString("template") : null,
                null => null,
                _ => throw new TokenizerLoadException($"{config}: chat_template must be a string or a list of " +
                    $"{{name, template}}"),
            };
            if (root.Get("added_tokens_decoder") is { ValueKind: JsonValueKind.Object } added)
            {
                foreach (var p in added.EnumerateObject())
                {
                    if (!int.TryParse(p.Name, out int id) || p.Value.GetString("content") is not { } content)
                        throw new TokenizerLoadException($"{config}: added_tokens_decoder entry '{p.Name}' needs an " +
                            $"integer id and a 'content' string");
                    s.AddedTokensDecoder.Add(new AddedToken(id, content, p.Value.GetBool("special", false)));
                }
            }
        }
        string gen = Path.Combine(directory, "generation_config.json");
        if (File.Exists(gen))
        {
            using var doc = JsonFile.Parse(gen);
            var root = doc.RootElement;
            s.GenerationEosIds = root.GetIntOrList("eos_token_id", gen);
            s.GenerationBosId = root.GetIntOrList("bos_token_id", gen) is [var b, ..] ? b : null;
            s.GenerationPadId = root.GetIntOrList("pad_token_id", gen) is [var p, ..] ? p : null;
        }
        return s;
    }

    private void ReadTokens(JsonElement root)
    {
        BosToken = root.GetTokenText("bos_token") ?? BosToken;
        EosToken = root.GetTokenText("eos_token") ?? EosToken;
        PadToken = root.GetTokenText("pad_token") ?? PadToken;
        UnkToken = root.GetTokenText("unk_token") ?? UnkToken;
    }

    /// <summary>Resolves a configured token to its id; a token the vocabulary lacks is an error naming the
    /// file.</summary>
    public int? Resolve(Func<string, int?> tokenToId, string? token, string field)
    {
        if (token is null)
            return null;
        return tokenToId(token) ?? throw new TokenizerLoadException(
            $"{ConfigPath ?? "special_tokens_map.json"}: {field} '{token}' is not a token of the vocabulary");
    }
}
