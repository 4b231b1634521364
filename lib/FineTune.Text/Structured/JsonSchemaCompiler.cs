// Compiles a response schema into the node graph the grammar walks. Takes the part of JSON Schema that OpenAI's
// structured outputs take (type or a list of types, properties, required, additionalProperties, items, minItems,
// maxItems, minLength, maxLength, enum, const, anyOf, $ref into $defs/definitions or the root) and refuses every
// other keyword by name, since a keyword the decoder does not enforce would be a promise the output does not keep.
// Annotations (title, description, examples, default, ...) are ignored. Limits keep a hostile schema small.
using System.Text.Encodings.Web;
using System.Text.Json;

namespace FineTune.Text.Structured;

/// <summary>A schema the decoder cannot enforce, with the JSON path of the offending part.</summary>
public sealed class StructuredOutputException(string path, string message) : Exception(message)
{
    public string Path { get; } = path;
}

public sealed class JsonSchemaCompiler
{
    public const int MaxNodes = 2_000;
    public const int MaxDepth = 32;
    public const int MaxEnumValues = 1_000;
    public const int MaxLiteralBytes = 1_024;

    internal static readonly JsonSerializerOptions Compact =
        new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    static readonly HashSet<string> Annotations =
        ["title", "description", "$schema", "$id", "$comment", "examples", "default", "deprecated", "readOnly",
            "writeOnly", "$defs", "definitions"];

    static readonly string Supported = "type, properties, required, additionalProperties, items, minItems, maxItems, " +
        "minLength, maxLength, enum, const, anyOf, $ref";

    readonly JsonElement _root;
    readonly string _rootPath;
    readonly List<SchemaNode> _nodes = [];
    readonly List<RefNode> _refs = [];
    readonly Dictionary<string, SchemaNode> _byPointer = [];

    JsonSchemaCompiler(JsonElement root, string rootPath)
    {
        _root = root;
        _rootPath = rootPath;
    }

    /// <summary>The grammar of values <paramref name="schema"/> accepts. <paramref name="path"/> names the schema in
    /// errors (e.g. response_format.json_schema.schema).</summary>
    public static JsonGrammar Compile(JsonElement schema, string path = "schema")
    {
        var compiler = new JsonSchemaCompiler(schema, path);
        var root = compiler.Node(schema, path, 0);
        // resolving a reference compiles its target, which may hold references of its own: they join the list
        for (int i = 0; i < compiler._refs.Count; i++)
            compiler._refs[i].Target = compiler.Resolve(compiler._refs[i].Pointer, path);
        return compiler.Finish(root);
    }

    /// <summary>Any JSON object (response_format json_object).</summary>
    public static JsonGrammar AnyObject()
    {
        var compiler = new JsonSchemaCompiler(default, "");
        var any = compiler.AnyValue();
        var root = ((AnyOfNode)any).Alternatives.OfType<ObjectNode>().Single();
        return compiler.Finish(root);
    }

    JsonGrammar Finish(SchemaNode root)
    {
        // Shortest texts by fixed point: every node starts unbounded and only shrinks; a node still unbounded at the
        // end accepts no finite text (a required property that contains itself).
        for (bool changed = true; changed;)
        {
            changed = false;
            foreach (var n in _nodes)
            {
                int m = n.ComputeMinBytes();
                if (m < n.MinBytes)
                {
                    n.MinBytes = m;
                    changed = true;
                }
            }
        }
        if (root.MinBytes >= JsonGrammar.Unbounded)
            throw new StructuredOutputException(_rootPath,
                "The schema accepts no finite JSON value (a required property contains itself through $ref).");
        return new JsonGrammar(root, _nodes);
    }

    T Add<T>(T node, string path) where T : SchemaNode
    {
        if (_nodes.Count >= MaxNodes)
            throw new StructuredOutputException(path, $"The schema is too large: more than {MaxNodes} nodes.");
        node.Id = _nodes.Count;
        _nodes.Add(node);
        return node;
    }

    SchemaNode AnyValue()
    {
        var alternatives = new List<SchemaNode>();
        var any = Add(new AnyOfNode(alternatives), "");
        alternatives.Add(Add(new ObjectNode([], any), ""));
        alternatives.Add(Add(new ArrayNode(any, 0, null), ""));
        alternatives.Add(Add(new StringNode(0, null), ""));
        alternatives.Add(Add(new NumberNode(false), ""));
        alternatives.Add(Add(new LiteralNode([Bytes("true"), Bytes("false"), Bytes("null")]), ""));
        return any;
    }

    static byte[] Bytes(string s) => System.Text.Encoding.UTF8.GetBytes(s);

    SchemaNode Node(JsonElement schema, string path, int depth)
    {
        if (depth > MaxDepth)
            throw new StructuredOutputException(path, $"The schema nests deeper than {MaxDepth} levels.");
        if (schema.ValueKind == JsonValueKind.True)
            return AnyValue();
        if (schema.ValueKind != JsonValueKind.Object)
            throw new StructuredOutputException(path,
                $"A schema must be an object (or true), got {schema.ValueKind.ToString().ToLowerInvariant()}.");
        foreach (var p in schema.EnumerateObject())
            if (!Annotations.Contains(p.Name) && !Keywords.Contains(p.Name))
                throw new StructuredOutputException($"{path}.{p.Name}",
                    $"'{p.Name}' is not supported in a response schema (this server enforces {Supported}; " +
                    "a keyword it cannot enforce is refused rather than ignored).");

        if (schema.TryGetProperty("$ref", out var reference))
        {
            Alone(schema, path, "$ref");
            if (reference.ValueKind != JsonValueKind.String)
                throw new StructuredOutputException($"{path}.$ref", "$ref must be a string such as \"#/$defs/Name\".");
            var r = Add(new RefNode(reference.GetString()!), path);
            _refs.Add(r);
            return r;
        }
        if (schema.TryGetProperty("anyOf", out var anyOf))
        {
            Alone(schema, path, "anyOf");
            if (anyOf.ValueKind != JsonValueKind.Array || anyOf.GetArrayLength() == 0)
                throw new StructuredOutputException($"{path}.anyOf", "anyOf must be a non-empty array of schemas.");
            return Add(new AnyOfNode(anyOf.EnumerateArray().Select((a, i) => Node(a, $"{path}.anyOf[{i}]",
                depth + 1)).ToList()), path);
        }
        if (schema.TryGetProperty("const", out var constant))
            return Add(new LiteralNode([Literal(constant, $"{path}.const")]), path);
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() is 0 or > MaxEnumValues)
                throw new StructuredOutputException($"{path}.enum",
                    $"enum must be an array of 1 to {MaxEnumValues} values.");
            return Add(new LiteralNode(values.EnumerateArray().Select((v, i) => Literal(v, $"{path}.enum[{i}]"))
                .Distinct(ByteArrays.Instance).ToList()), path);
        }

        var types = Types(schema, path);
        var alternatives = types.Select(t => Typed(t, schema, path, depth)).ToList();
        return alternatives.Count == 1 ? alternatives[0] : Add(new AnyOfNode(alternatives), path);
    }

    static readonly HashSet<string> Keywords =
        ["type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "minLength",
            "maxLength", "enum", "const", "anyOf", "$ref"];

    static void Alone(JsonElement schema, string path, string keyword)
    {
        foreach (var p in schema.EnumerateObject())
            if (p.Name != keyword && !Annotations.Contains(p.Name))
                throw new StructuredOutputException($"{path}.{p.Name}",
                    $"'{p.Name}' beside '{keyword}' is not supported; put it inside the schemas {keyword} names.");
    }

    static List<string> Types(JsonElement schema, string path)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            bool Has(params string[] names) => names.Any(n => schema.TryGetProperty(n, out _));
            if (Has("properties", "required", "additionalProperties"))
                return ["object"];
            if (Has("items", "minItems", "maxItems"))
                return ["array"];
            if (Has("minLength", "maxLength"))
                return ["string"];
            return ["any"];
        }
        var names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.GetArrayLength() > 0
                && type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String)
                => type.EnumerateArray().Select(t => t.GetString()!).Distinct().ToList(),
            _ => throw new StructuredOutputException($"{path}.type",
                "type must be a type name or a non-empty array of them."),
        };
        foreach (var n in names)
            if (n is not ("object" or "array" or "string" or "number" or "integer" or "boolean" or "null"))
                throw new StructuredOutputException($"{path}.type",
                    $"'{n}' is not a JSON Schema type (object, array, string, number, integer, boolean, null).");
        return names;
    }

    SchemaNode Typed(string type, JsonElement schema, string path, int depth) => type switch
    {
        "any" => AnyValue(),
        "object" => Object(schema, path, depth),
        "array" => Add(new ArrayNode(schema.TryGetProperty("items", out var items)
                ? Node(items, $"{path}.items", depth + 1) : AnyValue(),
            Count(schema, "minItems", path) ?? 0, Count(schema, "maxItems", path)), path),
        "string" => Add(new StringNode(Count(schema, "minLength", path) ?? 0, Count(schema, "maxLength", path)), path),
        "number" => Add(new NumberNode(integer: false), path),
        "integer" => Add(new NumberNode(integer: true), path),
        "boolean" => Add(new LiteralNode([Bytes("true"), Bytes("false")]), path),
        _ => Add(new LiteralNode([Bytes("null")]), path),
    };

    SchemaNode Object(JsonElement schema, string path, int depth)
    {
        var required = new HashSet<string>();
        if (schema.TryGetProperty("required", out var names))
        {
            if (names.ValueKind != JsonValueKind.Array || names.EnumerateArray().Any(n =>
                n.ValueKind != JsonValueKind.String))
                throw new StructuredOutputException($"{path}.required", "required must be an array of names.");
            required = names.EnumerateArray().Select(n => n.GetString()!).ToHashSet();
        }
        var properties = new List<ObjectProperty>();
        if (schema.TryGetProperty("properties", out var declared))
        {
            if (declared.ValueKind != JsonValueKind.Object)
                throw new StructuredOutputException($"{path}.properties",
                    "properties must be an object of name → schema.");
            foreach (var p in declared.EnumerateObject())
                properties.Add(new ObjectProperty(p.Name, Node(p.Value, $"{path}.properties.{p.Name}", depth + 1),
                    required.Contains(p.Name), Bytes(JsonSerializer.Serialize(p.Name, Compact))));
        }
        foreach (var name in required)
            if (properties.All(p => p.Name != name))
                throw new StructuredOutputException($"{path}.required",
                    $"required names '{name}', which properties does not declare.");
        SchemaNode? free = null;
        if (schema.TryGetProperty("additionalProperties", out var additional))
        {
            if (additional.ValueKind is JsonValueKind.Object or JsonValueKind.True)
                free = Node(additional, $"{path}.additionalProperties", depth + 1);
            else if (additional.ValueKind != JsonValueKind.False)
                throw new StructuredOutputException($"{path}.additionalProperties",
                    "additionalProperties must be true, false or a schema.");
        }
        else
            free = AnyValue();
        // Declared properties only, when there are some: output with just those is valid whatever
        // additionalProperties says, and a model is not invited to invent keys.
        return Add(new ObjectNode(properties, properties.Count == 0 ? free : null, properties.Count == 0 ? null : free),
            path);
    }

    static int? Count(JsonElement schema, string keyword, string path)
    {
        if (!schema.TryGetProperty(keyword, out var value))
            return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var n) || n < 0)
            throw new StructuredOutputException($"{path}.{keyword}", $"{keyword} must be a non-negative integer.");
        return n;
    }

    static byte[] Literal(JsonElement value, string path)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(value, Compact);
        if (bytes.Length > MaxLiteralBytes)
            throw new StructuredOutputException(path, $"A value longer than {MaxLiteralBytes} bytes of JSON.");
        return bytes;
    }

    SchemaNode Resolve(string pointer, string path)
    {
        if (_byPointer.TryGetValue(pointer, out var known))
            return known;
        if (pointer != "#" && !pointer.StartsWith("#/", StringComparison.Ordinal))
            throw new StructuredOutputException(path,
                $"$ref '{pointer}' is not supported: only references inside this schema (\"#\", \"#/$defs/Name\").");
        var element = _root;
        foreach (var raw in pointer.Length > 1 ? pointer[2..].Split('/') : [])
        {
            var part = Uri.UnescapeDataString(raw).Replace("~1", "/").Replace("~0", "~");
            if (element.ValueKind == JsonValueKind.Object && element.TryGetProperty(part, out var child))
                element = child;
            else if (element.ValueKind == JsonValueKind.Array && int.TryParse(part, out var i) && i >= 0
                && i < element.GetArrayLength())
                element = element[i];
            else
                throw new StructuredOutputException(path, $"$ref '{pointer}' points at nothing in this schema.");
        }
        var node = Node(element, $"{_rootPath}{(pointer.Length > 1 ? "." + pointer[2..].Replace('/', '.') : "")}", 0);
        _byPointer[pointer] = node;
        return node;
    }

    sealed class ByteArrays : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrays Instance = new();
        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] b)
        {
            var h = new HashCode();
            h.AddBytes(b);
            return h.ToHashCode();
        }
    }
}
