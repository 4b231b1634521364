// A tokenizer's vocabulary as a trie of the bytes each token writes, so a mask is built by walking the grammar once
// per shared prefix rather than once per token: tokens that start alike are tried together, and a prefix the grammar
// refuses prunes every token below it. Special (control) tokens write no bytes and are not in it.
namespace FineTune.Text.Structured;

public sealed class TokenTrie
{
    internal sealed class Node
    {
        public byte[] Bytes = [];
        public Node[] Children = [];
        public int[] Ids = [];
    }

    internal Node Root { get; }
    internal byte[]?[] TokenBytes { get; }

    public int VocabSize => TokenBytes.Length;

    /// <summary>The longest token's bytes: how far ahead one token can reach.</summary>
    public int MaxTokenBytes { get; }

    TokenTrie(byte[]?[] tokenBytes)
    {
        TokenBytes = tokenBytes;
        var root = new Building();
        for (int id = 0; id < tokenBytes.Length; id++)
        {
            if (tokenBytes[id] is not { Length: > 0 } bytes)
                continue;
            var node = root;
            foreach (var b in bytes)
                node = node.Children.TryGetValue(b, out var child) ? child : node.Children[b] = new Building();
            node.Ids.Add(id);
        }
        Root = root.Freeze();
        MaxTokenBytes = tokenBytes.Max(t => t?.Length ?? 0);
    }

    public static TokenTrie Build(TextTokenizer tokenizer) =>
        new(Enumerable.Range(0, tokenizer.VocabSize).Select(tokenizer.TokenBytes).ToArray());

    sealed class Building
    {
        public readonly SortedDictionary<byte, Building> Children = [];
        public readonly List<int> Ids = [];

        public Node Freeze() => new()
        {
            Bytes = [.. Children.Keys],
            Children = [.. Children.Values.Select(c => c.Freeze())],
            Ids = [.. Ids],
        };
    }
}
