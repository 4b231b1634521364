// An exact-match cache for deterministic requests (temperature 0): the key holds the served model's version and
// everything that shapes the output, so a new version never answers from an old entry; entries of a name are also
// dropped when the name changes. Bounded, least recently used out first.
namespace FineTune.Serving;

public sealed record CachedChoice(string Text, string FinishReason, int CompletionTokens);
public sealed record CachedResponse(IReadOnlyList<CachedChoice> Choices, int PromptTokens);

public sealed class ResponseCache(int capacity)
{
    readonly object _gate = new();
    readonly Dictionary<string,
        LinkedListNode<(string Key, string Model, CachedResponse Value)>> _index = new(StringComparer.Ordinal);
    readonly LinkedList<(string Key, string Model, CachedResponse Value)> _order = new();

    public int Count
    {
        get
        {
            lock (_gate)
                return _index.Count;
        }
    }

    public bool TryGet(string key, out CachedResponse value)
    {
        lock (_gate)
        {
            if (_index.TryGetValue(key, out var node))
            {
                _order.Remove(node);
                _order.AddFirst(node);
                value = node.Value.Value;
                return true;
            }
        }
        value = null!;
        return false;
    }

    public void Put(string key, string model, CachedResponse value)
    {
        if (capacity <= 0)
            return;
        lock (_gate)
        {
            if (_index.Remove(key, out var old))
                _order.Remove(old);
            _index[key] = _order.AddFirst((key, model, value));
            while (_index.Count > capacity)
            {
                var last = _order.Last!;
                _order.RemoveLast();
                _index.Remove(last.Value.Key);
            }
        }
    }

    /// <summary>Drops every entry stored for these model names.</summary>
    public void Invalidate(IReadOnlyCollection<string> models)
    {
        lock (_gate)
        {
            for (var node = _order.First; node is not null;)
            {
                var next = node.Next;
                if (models.Contains(node.Value.Model))
                {
                    _order.Remove(node);
                    _index.Remove(node.Value.Key);
                }
                node = next;
            }
        }
    }
}
