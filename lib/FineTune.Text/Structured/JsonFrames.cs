// The grammar's states, byte by byte. A configuration is an immutable stack of frames (the value being written on top,
// the containers it sits in below); a byte either moves the top frame on, pushes a child, or ends the top value and
// hands control back to its container (a number only knows it ended when a byte that cannot continue it arrives, so
// that byte is fed to the container). Frames never change: stepping builds new ones, so a state can be shared by
// every token tried from it while a mask is built.
using System.Text;

namespace FineTune.Text.Structured;

internal sealed class Stack(Frame head, Stack? tail)
{
    public readonly Frame Head = head;
    public readonly Stack? Tail = tail;
    public readonly int Depth = (tail?.Depth ?? 0) + 1;
}

internal abstract class Frame
{
    /// <summary>Feeds <paramref name="b"/> to this frame (the top of a stack whose rest is
    /// <paramref name="tail"/>); every configuration it leads to is added to <paramref name="output"/> (null: the
    /// document is complete).</summary>
    public abstract void Step(byte b, Stack? tail, List<Stack?> output);

    /// <summary>This container once the child it waits for has ended (<paramref name="tag"/>: the property a key
    /// chose).</summary>
    public virtual Frame AfterChild(int tag) => throw new InvalidOperationException($"{GetType().Name} has no child");

    /// <summary>The value on top may end here, before any further byte.</summary>
    public virtual bool CanEndHere => false;

    /// <summary>Bytes this frame still needs (for a container, after the child it waits for).</summary>
    public abstract int MinBytes { get; }

    /// <summary>What decides which bytes this frame accepts from here, for tokens of up to <paramref name="horizon"/>
    /// bytes: frames with equal keys accept the same byte strings of that length.</summary>
    public abstract void AppendKey(StringBuilder key, int horizon);

    public const int MaxWhitespace = 16;

    protected static bool IsWhitespace(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';

    protected static void Push(Frame frame, Stack? tail, List<Stack?> output)
    {
        if ((tail?.Depth ?? 0) < JsonGrammar.MaxNesting)
            output.Add(new Stack(frame, tail));
    }

    /// <summary>The top value has ended: its container takes over (or the document is complete).</summary>
    protected static void End(Stack? tail, int tag, List<Stack?> output) =>
        output.Add(tail is null ? null : new Stack(tail.Head.AfterChild(tag), tail.Tail));

    /// <summary>The top value ended before <paramref name="b"/>, which its container reads.</summary>
    protected static void EndBefore(byte b, Stack? tail, int tag, List<Stack?> output)
    {
        if (tail is not null)
            tail.Head.AfterChild(tag).Step(b, tail.Tail, output);
    }

    /// <summary>Starts a value of <paramref name="node"/> whose first byte is <paramref name="b"/>.</summary>
    public static void StartValue(SchemaNode node, byte b, Stack? tail, List<Stack?> output, int hops = 0)
    {
        switch (node)
        {
            case RefNode r when hops < JsonGrammar.MaxNesting:
                StartValue(r.Target, b, tail, output, hops + 1);
                break;
            case AnyOfNode any:
                foreach (var alternative in any.Alternatives)
                    StartValue(alternative, b, tail, output, hops + 1);
                break;
            case ObjectNode o when b == '{':
                Push(new ObjectFrame(o, ObjectFrame.Phase.Open, 0, -1, 0), tail, output);
                break;
            case ArrayNode a when b == '[':
                Push(new ArrayFrame(a, ArrayFrame.Phase.Open, 0, 0), tail, output);
                break;
            case StringNode s when b == '"':
                Push(new StringFrame(s, 0, 0, 0, 0, 0), tail, output);
                break;
            case NumberNode n when b == '-':
                Push(new NumberFrame(n.Integer, NumberFrame.Phase.Minus, 0), tail, output);
                break;
            case NumberNode n when b == '0':
                Push(new NumberFrame(n.Integer, NumberFrame.Phase.Zero, 1), tail, output);
                break;
            case NumberNode n when b is >= (byte)'1' and <= (byte)'9':
                Push(new NumberFrame(n.Integer, NumberFrame.Phase.Int, 1), tail, output);
                break;
            case LiteralNode l:
                LiteralFrame.Match(l.Values, null, $"n{l.Id}", [], b, tail, output);
                break;
        }
    }

    /// <summary>A count as a key: exact only within reach of a bound a token could cross (below the low bound, and
    /// below the high one).</summary>
    protected static string Window(int value, int low, int? high, int horizon)
    {
        if (value + horizon < low)
            return "<";
        if (value >= low && (high is null || value + horizon < high))
            return "=";
        return value.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>A value of <see cref="Node"/> is due; whitespace may come first.</summary>
internal sealed class ValueFrame(SchemaNode node, int whitespace) : Frame
{
    public SchemaNode Node { get; } = node;

    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        if (IsWhitespace(b))
        {
            if (whitespace < MaxWhitespace)
                output.Add(new Stack(new ValueFrame(Node, whitespace + 1), tail));
            return;
        }
        StartValue(Node, b, tail, output);
    }

    public override int MinBytes => Node.MinBytes;
    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('V').Append(Node.Id).Append(',').Append(whitespace);
}

internal sealed class ObjectFrame(ObjectNode node, ObjectFrame.Phase phase, int next, int current, int whitespace)
    : Frame
{
    public enum Phase { Open, Key, AwaitKey, Colon, AwaitValue, AfterValue }

    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        if (IsWhitespace(b) && phase is Phase.Open or Phase.Key or Phase.Colon or Phase.AfterValue)
        {
            if (whitespace < MaxWhitespace)
                output.Add(new Stack(new ObjectFrame(node, phase, next, current, whitespace + 1), tail));
            return;
        }
        switch (phase)
        {
            case Phase.Open when b == '}' && !node.RequiredFrom(next):
            case Phase.AfterValue when b == '}' && !node.RequiredFrom(next):
                End(tail, -1, output);
                break;
            case Phase.Open or Phase.Key when b == '"':
                StartKey(b, new Stack(new ObjectFrame(node, Phase.AwaitKey, next, -1, 0), tail), output);
                break;
            case Phase.AfterValue when b == ',' && (node.FreeKeys || next < node.Properties.Count):
                output.Add(new Stack(new ObjectFrame(node, Phase.Key, next, -1, 0), tail));
                break;
            case Phase.Colon when b == ':':
                var value = current >= 0 ? node.Properties[current].Value : node.FreeValues!;
                Push(new ValueFrame(value, 0), new Stack(new ObjectFrame(node, Phase.AwaitValue, next, current, 0),
                    tail), output);
                break;
        }
    }

    // The key's opening quote: a free key is any string; a declared one is one of the names allowed from here.
    void StartKey(byte quote, Stack waiting, List<Stack?> output)
    {
        if (node.FreeKeys)
        {
            Push(new StringFrame(JsonGrammar.AnyString, 0, 0, 0, 0, 0), waiting, output);
            return;
        }
        var keys = new List<byte[]>();
        var tags = new List<int>();
        for (int j = next; j < node.Properties.Count; j++)
        {
            keys.Add(node.Properties[j].Key);
            tags.Add(j);
            if (node.Properties[j].Required)
                break;
        }
        LiteralFrame.Match(keys, tags, $"k{node.Id},{next}", [], quote, waiting, output);
    }

    public override Frame AfterChild(int tag) => phase switch
    {
        Phase.AwaitKey => node.FreeKeys ? new ObjectFrame(node, Phase.Colon, next, -1, 0)
            : new ObjectFrame(node, Phase.Colon, tag + 1, tag, 0),
        Phase.AwaitValue => new ObjectFrame(node, Phase.AfterValue, next, -1, 0),
        _ => base.AfterChild(tag),
    };

    public override int MinBytes => phase switch
    {
        Phase.Open => JsonGrammar.Add(node.RestMinBytes(next, first: true), 1),
        Phase.Key => node.FreeKeys ? JsonGrammar.Add(4, node.FreeValues!.MinBytes)
            : JsonGrammar.Add(AllowedKeys().Min(j => JsonGrammar.Add(node.Properties[j].Key.Length,
                AfterKeyMinBytes(j))), 0),
        Phase.AwaitKey => node.FreeKeys ? AfterKeyMinBytes(-1) : AllowedKeys().Min(AfterKeyMinBytes),
        Phase.Colon => JsonGrammar.Add(1 + 1, JsonGrammar.Add(CurrentValue.MinBytes, node.RestMinBytes(next, false))),
        _ => JsonGrammar.Add(node.RestMinBytes(next, first: false), 1),
    };

    SchemaNode CurrentValue => current >= 0 ? node.Properties[current].Value : node.FreeValues!;

    /// <summary>Bytes needed after the key of property <paramref name="tag"/> (-1: a free key) is written.</summary>
    public int AfterKeyMinBytes(int tag) => tag < 0
        ? JsonGrammar.Add(2, node.FreeValues!.MinBytes)
        : JsonGrammar.Add(2, JsonGrammar.Add(node.Properties[tag].Value.MinBytes, node.RestMinBytes(tag + 1, false)));

    IEnumerable<int> AllowedKeys()
    {
        for (int j = next; j < node.Properties.Count; j++)
        {
            yield return j;
            if (node.Properties[j].Required)
                yield break;
        }
    }

    public bool AwaitsKey => phase == Phase.AwaitKey;

    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('O').Append(node.Id).Append(',').Append((int)phase).Append(',').Append(next).Append(',')
            .Append(current).Append(',').Append(whitespace);
}

internal sealed class ArrayFrame(ArrayNode node, ArrayFrame.Phase phase, int count, int whitespace) : Frame
{
    public enum Phase { Open, Item, AwaitItem, AfterItem }

    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        if (IsWhitespace(b) && phase is Phase.Open or Phase.Item or Phase.AfterItem)
        {
            if (whitespace < MaxWhitespace)
                output.Add(new Stack(new ArrayFrame(node, phase, count, whitespace + 1), tail));
            return;
        }
        bool more = node.MaxItems is null || count < node.MaxItems;
        switch (phase)
        {
            case Phase.Open when b == ']' && node.MinItems == 0:
            case Phase.AfterItem when b == ']' && count >= node.MinItems:
                End(tail, -1, output);
                break;
            case Phase.Open or Phase.Item when more:
                StartValue(node.Items, b, new Stack(new ArrayFrame(node, Phase.AwaitItem, count, 0), tail), output);
                break;
            case Phase.AfterItem when b == ',' && more:
                output.Add(new Stack(new ArrayFrame(node, Phase.Item, count, 0), tail));
                break;
        }
    }

    public override Frame AfterChild(int tag) => phase == Phase.AwaitItem
        ? new ArrayFrame(node, Phase.AfterItem, count + 1, 0) : base.AfterChild(tag);

    public override int MinBytes => phase switch
    {
        Phase.Open => JsonGrammar.Add(node.ItemsMinBytes(node.MinItems, first: true), 1),
        Phase.Item => JsonGrammar.Add(node.ItemsMinBytes(Math.Max(1, node.MinItems - count), first: true), 1),
        Phase.AwaitItem => JsonGrammar.Add(node.ItemsMinBytes(node.MinItems - count - 1, first: false), 1),
        _ => JsonGrammar.Add(node.ItemsMinBytes(node.MinItems - count, first: false), 1),
    };

    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('A').Append(node.Id).Append(',').Append((int)phase).Append(',')
            .Append(Window(count, node.MinItems, node.MaxItems, horizon)).Append(',').Append(whitespace);
}

/// <summary>Inside a string, after its opening quote: <paramref name="length"/> characters so far; an escape
/// (<paramref name="escape"/> 1 after a backslash), <paramref name="hex"/> digits of a \u escape, or
/// <paramref name="utf8"/> continuation bytes may be pending. <paramref name="detail"/> narrows the next byte: for a
/// \u escape, 1 after a leading d (no surrogates); for UTF-8, which continuation bytes are well-formed after the lead
/// (no overlong forms, no surrogates, nothing past U+10FFFF).</summary>
internal sealed class StringFrame(StringNode node, int length, int escape, int hex, int utf8, int detail) : Frame
{
    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        if (utf8 > 0)
        {
            var (low, high) = detail switch
            {
                1 => (0xA0, 0xBF),
                2 => (0x80, 0x9F),
                3 => (0x90, 0xBF),
                4 => (0x80, 0x8F),
                _ => (0x80, 0xBF)
            };
            if (b >= low && b <= high)
                output.Add(new Stack(new StringFrame(node, length, 0, 0, utf8 - 1, 0), tail));
            return;
        }
        if (hex > 0)
        {
            if (!char.IsAsciiHexDigit((char)b) || (hex == 3 && detail == 1 && "89abcdefABCDEF".Contains((char)b)))
                return;
            output.Add(new Stack(new StringFrame(node, length, 0, hex - 1, 0, hex == 4 && b is (byte)'d' or (byte)'D'
                ? 1 : 0), tail));
            return;
        }
        if (escape == 1)
        {
            if (b == 'u')
                output.Add(new Stack(new StringFrame(node, length, 0, 4, 0, 0), tail));
            else if ("\"\\/bfnrt".Contains((char)b))
                output.Add(new Stack(new StringFrame(node, length, 0, 0, 0, 0), tail));
            return;
        }
        if (b == '"')
        {
            if (length >= node.MinLength)
                End(tail, -1, output);
            return;
        }
        if (b < 0x20 || (node.MaxLength is { } max && length >= max))
            return;
        var (next, continuation, range) = b switch
        {
            (byte)'\\' => (1, 0, 0),
            < 0x80 => (0, 0, 0),
            >= 0xC2 and <= 0xDF => (0, 1, 0),
            0xE0 => (0, 2, 1),
            0xED => (0, 2, 2),
            >= 0xE1 and <= 0xEF => (0, 2, 0),
            0xF0 => (0, 3, 3),
            0xF4 => (0, 3, 4),
            >= 0xF1 and <= 0xF3 => (0, 3, 0),
            _ => (-1, 0, 0),
        };
        if (next >= 0)
            output.Add(new Stack(new StringFrame(node, length + 1, next, 0, continuation, range), tail));
    }

    public override int MinBytes => JsonGrammar.Add(utf8 + hex + escape + 1, Math.Max(0, node.MinLength - length));

    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('S').Append(node.Id).Append(',').Append(Window(length, node.MinLength, node.MaxLength, horizon))
            .Append(',').Append(escape).Append(',').Append(hex).Append(',').Append(utf8).Append(',').Append(detail);
}

/// <summary>A JSON number, as RFC 8259 writes it, with at most 15 digits per part (an integer: no fraction or
/// exponent).</summary>
internal sealed class NumberFrame(bool integer, NumberFrame.Phase phase, int digits) : Frame
{
    public enum Phase { Minus, Zero, Int, Dot, Fraction, E, ExponentSign, Exponent }
    const int MaxDigits = 15;
    const int MaxExponentDigits = 3;

    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        bool digit = b is >= (byte)'0' and <= (byte)'9';
        Phase? to = phase switch
        {
            Phase.Minus when b == '0' => Phase.Zero,
            Phase.Minus when digit => Phase.Int,
            Phase.Int when digit && digits < MaxDigits => Phase.Int,
            Phase.Zero or Phase.Int when b == '.' && !integer => Phase.Dot,
            Phase.Zero or Phase.Int or Phase.Fraction when b is (byte)'e' or (byte)'E' && !integer => Phase.E,
            Phase.Dot when digit => Phase.Fraction,
            Phase.Fraction when digit && digits < MaxDigits => Phase.Fraction,
            Phase.E when b is (byte)'+' or (byte)'-' => Phase.ExponentSign,
            Phase.E or Phase.ExponentSign when digit => Phase.Exponent,
            Phase.Exponent when digit && digits < MaxExponentDigits => Phase.Exponent,
            _ => null,
        };
        if (to is { } next)
            output.Add(new Stack(new NumberFrame(integer, next, next == phase ? digits + 1 : digit ? 1 : 0), tail));
        else if (CanEndHere)
            EndBefore(b, tail, -1, output);
    }

    public override bool CanEndHere => phase is Phase.Zero or Phase.Int or Phase.Fraction or Phase.Exponent;
    public override int MinBytes => CanEndHere ? 0 : 1;

    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('N').Append(integer ? 1 : 0).Append(',').Append((int)phase).Append(',').Append(digits);
}

/// <summary>Part of one of several exact texts (true/false/null, an enum, a declared key). <paramref name="tags"/>
/// names each candidate's property when the texts are keys; <paramref name="origin"/> and the bytes matched so far
/// identify the candidates in a key.</summary>
internal sealed class LiteralFrame(IReadOnlyList<byte[]> candidates, IReadOnlyList<int>? tags, string origin,
    byte[] matched) : Frame
{
    public IReadOnlyList<byte[]> Candidates => candidates;
    public IReadOnlyList<int>? Tags => tags;
    int Position => matched.Length;
    public int Remaining(int candidate) => candidates[candidate].Length - Position;

    /// <summary>Matches <paramref name="b"/> at the position after <paramref name="matched"/>.</summary>
    public static void Match(IReadOnlyList<byte[]> candidates, IReadOnlyList<int>? tags, string origin,
        byte[] matched, byte b, Stack? tail, List<Stack?> output)
    {
        int at = matched.Length;
        List<byte[]>? next = null;
        List<int>? nextTags = null;
        bool complete = true;
        for (int i = 0; i < candidates.Count; i++)
        {
            var c = candidates[i];
            if (c.Length <= at || c[at] != b)
                continue;
            (next ??= []).Add(c);
            if (tags is not null)
                (nextTags ??= []).Add(tags[i]);
            complete &= c.Length == at + 1;
        }
        if (next is null)
            return;
        // distinct texts: when every match ends here there is exactly one
        if (complete)
            End(tail, nextTags?[0] ?? -1, output);
        else
            output.Add(new Stack(new LiteralFrame(next, nextTags, origin, [.. matched, b]), tail));
    }

    public override void Step(byte b, Stack? tail, List<Stack?> output)
    {
        for (int i = 0; i < candidates.Count; i++)
            if (candidates[i].Length == Position)
                EndBefore(b, tail, tags?[i] ?? -1, output);
        Match(candidates, tags, origin, matched, b, tail, output);
    }

    public override bool CanEndHere => candidates.Any(c => c.Length == Position);

    public override int MinBytes => candidates.Min(c => c.Length) - Position;

    public override void AppendKey(StringBuilder key, int horizon) =>
        key.Append('L').Append(origin).Append(',').Append(Convert.ToBase64String(matched));
}
