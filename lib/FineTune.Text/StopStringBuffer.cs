// Streams text while watching for stop strings: text that could still grow into a stop string is held back until it
// cannot, so a stop string is never half-printed.
namespace FineTune.Text;

public sealed class StopStringBuffer(IReadOnlyList<string> stops)
{
    string _pending = "";

    public bool Stopped { get; private set; }

    /// <summary>Adds a chunk; returns the text that is now safe to show.</summary>
    public string Push(string chunk)
    {
        if (Stopped)
            return "";
        _pending += chunk;
        int cut = stops.Select(s => _pending.IndexOf(s,
            StringComparison.Ordinal)).Where(i => i >= 0).DefaultIfEmpty(-1).Min();
        if (cut >= 0)
        {
            Stopped = true;
            var shown = _pending[..cut];
            _pending = "";
            return shown;
        }
        // Keep the longest tail that is a prefix of some stop string.
        int hold = 0;
        foreach (var stop in stops)
            for (int n = Math.Min(stop.Length - 1, _pending.Length); n > hold; n--)
                if (_pending.EndsWith(stop[..n], StringComparison.Ordinal))
                {
                    hold = n;
                    break;
                }
        var safe = _pending[..^hold];
        _pending = _pending[^hold..];
        return safe;
    }

    public string Flush()
    {
        var rest = Stopped ? "" : _pending;
        _pending = "";
        return rest;
    }
}
