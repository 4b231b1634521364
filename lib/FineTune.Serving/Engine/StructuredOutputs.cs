// Response formats over one served model's vocabulary: the vocabulary trie, built on the first structured request, and
// the most recently used compiled formats with their mask caches, so requests that repeat a schema reuse its masks.
using FineTune.Text;
using FineTune.Text.Structured;

namespace FineTune.Serving.Engine;

public sealed class StructuredOutputs(TextTokenizer tokenizer, IReadOnlyList<int> stopIds)
{
    /// <summary>Compiled formats kept per model (each with up to ConstrainedVocabulary.MaxCachedMasks masks).</summary>
    public const int MaxFormats = 32;

    readonly Lazy<TokenTrie> _trie = new(() => TokenTrie.Build(tokenizer));
    readonly Lock _gate = new();
    readonly Dictionary<string, LinkedListNode<(string Key, ConstrainedVocabulary Format)>> _byKey = [];
    readonly LinkedList<(string Key, ConstrainedVocabulary Format)> _recent = new();

    /// <summary>The format named <paramref name="key"/>, compiled by <paramref name="compile"/> the first time (its
    /// errors pass through).</summary>
    public ConstrainedVocabulary Get(string key, Func<JsonGrammar> compile)
    {
        lock (_gate)
            if (_byKey.TryGetValue(key, out var known))
            {
                _recent.Remove(known);
                _recent.AddFirst(known);
                return known.Value.Format;
            }
        var format = new ConstrainedVocabulary(compile(), _trie.Value, stopIds);
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var raced))
                return raced.Value.Format;
            _byKey[key] = _recent.AddFirst((key, format));
            if (_recent.Count > MaxFormats)
            {
                _byKey.Remove(_recent.Last!.Value.Key);
                _recent.RemoveLast();
            }
        }
        return format;
    }
}
