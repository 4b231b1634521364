// What a JSON value may be, compiled from a JSON Schema (or "any JSON object" for json_object): the graph the
// grammar walks. Nodes are immutable once compiled; a $ref is a node whose target is set when the schema is compiled,
// so recursive schemas are cycles in this graph. MinBytes is the shortest JSON text a node accepts, the measure that
// lets decoding close a document before its token budget runs out.
namespace FineTune.Text.Structured;

public abstract class SchemaNode
{
    internal int Id { get; set; }

    /// <summary>Bytes of the shortest value this node accepts (compact JSON).</summary>
    internal int MinBytes { get; set; } = JsonGrammar.Unbounded;

    /// <summary>The shortest value as computed from the nodes below (one step of the fixed point over the graph).
    /// </summary>
    internal abstract int ComputeMinBytes();
}

/// <summary>One of several schemas (anyOf, a type list): the grammar follows every alternative that still fits.
/// </summary>
public sealed class AnyOfNode(IReadOnlyList<SchemaNode> alternatives) : SchemaNode
{
    public IReadOnlyList<SchemaNode> Alternatives { get; } = alternatives;
    internal override int ComputeMinBytes() => Alternatives.Min(a => a.MinBytes);
}

/// <summary>A $ref: the node it points to, resolved once the whole schema is compiled.</summary>
public sealed class RefNode(string pointer) : SchemaNode
{
    public string Pointer { get; } = pointer;
    public SchemaNode Target { get; internal set; } = null!;
    internal override int ComputeMinBytes() => Target.MinBytes;
}

public sealed record ObjectProperty(string Name, SchemaNode Value, bool Required, byte[] Key);

/// <summary>An object. Declared properties come in schema order (as OpenAI's structured outputs write them), required
/// ones always, optional ones when the model chooses; with no declared properties, <see cref="FreeValues"/> (when
/// set) allows any keys with values of that schema.</summary>
public sealed class ObjectNode(IReadOnlyList<ObjectProperty> properties, SchemaNode? freeValues,
    SchemaNode? extraValues = null) : SchemaNode
{
    public IReadOnlyList<ObjectProperty> Properties { get; } = properties;
    public SchemaNode? FreeValues { get; } = freeValues;
    /// <summary>What additionalProperties allows beside declared properties (null: nothing). The decoder never writes
    /// such keys; a document checked against the schema may have them.</summary>
    public SchemaNode? ExtraValues { get; } = extraValues;
    internal bool FreeKeys => Properties.Count == 0 && FreeValues is not null;

    internal override int ComputeMinBytes() => JsonGrammar.Add(2, RestMinBytes(0, first: true));

    /// <summary>Shortest text for the required properties from <paramref name="next"/> on, with their separating
    /// commas (and a leading one unless <paramref name="first"/>).</summary>
    internal int RestMinBytes(int next, bool first)
    {
        int total = 0;
        for (int j = next; j < Properties.Count; j++)
            if (Properties[j].Required)
            {
                total = JsonGrammar.Add(total, Properties[j].Key.Length + 1 + Properties[j].Value.MinBytes);
                if (!first)
                    total = JsonGrammar.Add(total, 1);
                first = false;
            }
        return total;
    }

    internal bool RequiredFrom(int next)
    {
        for (int j = next; j < Properties.Count; j++)
            if (Properties[j].Required)
                return true;
        return false;
    }
}

public sealed class ArrayNode(SchemaNode items, int minItems, int? maxItems) : SchemaNode
{
    public SchemaNode Items { get; } = items;
    public int MinItems { get; } = minItems;
    public int? MaxItems { get; } = maxItems;

    internal override int ComputeMinBytes() => JsonGrammar.Add(2, ItemsMinBytes(MinItems, first: true));

    /// <summary>Shortest text for <paramref name="count"/> more items with their commas.</summary>
    internal int ItemsMinBytes(int count, bool first)
    {
        if (count <= 0)
            return 0;
        long each = (long)Items.MinBytes + 1;
        return (int)Math.Min(JsonGrammar.Unbounded, each * count - (first ? 1 : 0));
    }
}

public sealed class StringNode(int minLength, int? maxLength) : SchemaNode
{
    public int MinLength { get; } = minLength;
    public int? MaxLength { get; } = maxLength;
    internal override int ComputeMinBytes() => 2 + MinLength;
}

public sealed class NumberNode(bool integer) : SchemaNode
{
    public bool Integer { get; } = integer;
    internal override int ComputeMinBytes() => 1;
}

/// <summary>Exactly one of some JSON texts (true, false, null, an enum, a const), compact.</summary>
public sealed class LiteralNode(IReadOnlyList<byte[]> values) : SchemaNode
{
    public IReadOnlyList<byte[]> Values { get; } = values;
    internal override int ComputeMinBytes() => Values.Min(v => v.Length);
}
