// A compiled response format: the JSON texts a schema (or json_object) accepts, as a pushdown automaton over UTF-8
// bytes. JsonState is where a text has got to: the set of configurations still alive (more than one only where anyOf
// leaves the choice open), whether the text may end there, and how many bytes at least it still needs.
using System.Text;

namespace FineTune.Text.Structured;

public sealed class JsonGrammar
{
    /// <summary>The length of a text that cannot be finished (sums saturate here).</summary>
    public const int Unbounded = 1 << 24;

    /// <summary>Containers open at once, and $ref hops without a byte between.</summary>
    public const int MaxNesting = 48;

    /// <summary>Configurations followed at once (anyOf alternatives that agree so far).</summary>
    public const int MaxConfigurations = 32;

    internal static readonly StringNode AnyString = new(0, null) { Id = -1, MinBytes = 2 };

    internal JsonGrammar(SchemaNode root, IReadOnlyList<SchemaNode> nodes)
    {
        Root = root;
        Nodes = nodes.Count;
        MaxValueBytes = nodes.Select(n => n.MinBytes).Where(m => m < Unbounded).DefaultIfEmpty(0).Max();
    }

    public SchemaNode Root { get; }
    public int Nodes { get; }

    /// <summary>The longest shortest-text of any value: how much one byte that opens a value may add to what a
    /// document still needs.</summary>
    public int MaxValueBytes { get; }

    /// <summary>Bytes of the shortest text this grammar accepts.</summary>
    public int MinBytes => Root.MinBytes;

    public JsonState Start() => new([new Stack(new ValueFrame(Root, 0), null)]);

    /// <summary>Whether <paramref name="text"/> is a complete document of this grammar (as this decoder writes it:
    /// declared properties in schema order, at most 16 whitespace bytes in a row).</summary>
    public bool Accepts(string text)
    {
        var state = Start();
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            var next = state.Step(b);
            if (next is null)
                return false;
            state = next;
        }
        return state.CanEnd;
    }

    internal static int Add(int a, int b) => (int)Math.Min(Unbounded, (long)a + b);
}

public sealed class JsonState
{
    internal JsonState(Stack?[] configurations) => Configurations = configurations;

    /// <summary>null: the document is complete.</summary>
    internal Stack?[] Configurations { get; }

    /// <summary>The state after <paramref name="b"/>, or null when no text of the grammar continues so.</summary>
    public JsonState? Step(byte b)
    {
        var output = new List<Stack?>(2);
        Step(Configurations, b, output);
        return output.Count == 0 ? null : new JsonState([.. output]);
    }

    internal static void Step(IReadOnlyList<Stack?> from, byte b, List<Stack?> output)
    {
        foreach (var s in from)
        {
            if (output.Count >= JsonGrammar.MaxConfigurations)
                return;
            s?.Head.Step(b, s.Tail, output);
        }
    }

    /// <summary>The text may end here: the document is complete (or a top-level number or literal may stop).</summary>
    public bool CanEnd => Configurations.Any(CanEndAt);

    /// <summary>Nothing but the end may follow.</summary>
    public bool IsComplete => Configurations.All(s => s is null);

    internal static bool CanEndAt(Stack? s) => s is null || (s.Tail is null && s.Head.CanEndHere);

    /// <summary>The fewest bytes that finish the document from here.</summary>
    public int MinBytes => Configurations.Min(MinBytesAt);

    internal static int MinBytesAt(Stack? s)
    {
        if (s is null)
            return 0;
        int total = 0;
        // a declared key being written: its own rest depends on which key it becomes
        if (s.Head is LiteralFrame { Tags: { } tags } key && s.Tail?.Head is ObjectFrame { AwaitsKey: true } owner)
        {
            int best = JsonGrammar.Unbounded;
            for (int i = 0; i < tags.Count; i++)
                best = Math.Min(best, JsonGrammar.Add(key.Remaining(i), owner.AfterKeyMinBytes(tags[i])));
            total = best;
            s = s.Tail.Tail;
        }
        for (; s is not null; s = s.Tail)
            total = JsonGrammar.Add(total, s.Head.MinBytes);
        return total;
    }

    /// <summary>Equal keys accept the same byte strings of up to <paramref name="horizon"/> bytes.</summary>
    public string Key(int horizon)
    {
        var key = new StringBuilder();
        foreach (var s in Configurations)
        {
            for (var f = s; f is not null; f = f.Tail)
            {
                f.Head.AppendKey(key, horizon);
                key.Append('/');
            }
            key.Append('|');
        }
        return key.ToString();
    }
}
