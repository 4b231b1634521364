using FineTune.Data;
using FineTune.Data.Tokenization;
using FineTune.Text;
static class Sample
{
    public static async Task Lengths()
    {
        var docs = FineTune.Data.Demo.PretrainCorpus.Generate(1234, 3_000_000).ToList();
        var bpe = BpeTrainer.Train(docs);
        await bpe.SaveAsync("/tmp/ftproto-tok");
        var tok = TokenizerLoader.Load("/tmp/ftproto-tok");
        await FineTune.Data.Demo.SupportTickets.WriteAsync("/tmp/ftproto-demo", 1000, 200, 42);
        var ex = new ExampleTokenizer(tok, tok.ChatTemplate!, new TokenizeOptions());
        var lengths = new List<int>();
        foreach (var line in File.ReadLines("/tmp/ftproto-demo/train.jsonl"))
        {
            using var j = System.Text.Json.JsonDocument.Parse(line);
            var msgs = j.RootElement.GetProperty("messages").EnumerateArray().Select(m => new Message(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)).ToList();
            var rec = new ChatMessage("user", "x");
            var ids = tok.Encode(tok.ChatTemplate!.Format(msgs.Select(m => new ChatMessage(m.Role, m.Content)).ToList(), false));
            lengths.Add(ids.Count + 1);
        }
        Console.WriteLine($"demo chatml lengths: min {lengths.Min()} mean {lengths.Average():F0} max {lengths.Max()}");
        var sys = tok.Encode(FineTune.Data.Demo.SupportTickets.SystemPrompt);
        Console.WriteLine($"system prompt {sys.Count} tokens: {string.Join("|", sys.Select(i => tok.Decode([i])))}");
    }
}
static class Sha
{
    public static async Task Run() => Console.WriteLine(await FineTune.Data.Demo.PretrainCorpus.WriteAsync("/tmp/ftproto-corpus.jsonl", 1234, 3_000_000));
}
