// finetune tokenize TOKENIZER_FILE_OR_MODEL_DIR --text "..." [--bos] [--eos] [--special]: prints the ids as a JSON
// array. Special-token text is encoded literally, as SentencePiece and tiktoken do; --special turns it into control
// ids.
using System.CommandLine;
using FineTune.Text;

namespace FineTune.Cli.Commands;

static class TokenizeCommand
{
    public static Command Create(TextWriter stdout)
    {
        var source = new Argument<string>("tokenizer")
        {
            Description = "tokenizer.model, tokenizer.json, *.tiktoken, a llama2.c tokenizer .bin, or a model directory"
        };
        var text = new Option<string>("--text") { Description = "Text to encode", Required = true };
        var bos = new Option<bool>("--bos") { Description = "Prepend the BOS token" };
        var eos = new Option<bool>("--eos") { Description = "Append the EOS token" };
        var special = new Option<bool>("--special")
        {
            Description = "Read special-token text such as <|im_end|> as control tokens (default: as plain text)"
        };
        var command = new Command("tokenize", "Encode text to token ids (printed as a JSON array).") { source, text,
            bos, eos, special };
        command.SetAction(async (parse, ct) =>
        {
            var tokenizer = TokenizerLoader.Load(parse.GetValue(source)!);
            if (parse.GetValue(bos) && tokenizer.BosId is null)
                throw new ArgumentException("--bos: this tokenizer defines no BOS token.");
            if (parse.GetValue(eos) && tokenizer.EosId is null)
                throw new ArgumentException("--eos: this tokenizer defines no EOS token.");
            var ids = tokenizer.Encode(parse.GetValue(text)!,
                parse.GetValue(special) ? SpecialTokenText.Parse : SpecialTokenText.Literal,
                parse.GetValue(bos), parse.GetValue(eos));
            await stdout.WriteLineAsync($"[{string.Join(", ", ids)}]".AsMemory(), ct);
            return 0;
        });
        return command;
    }
}
