// The shape of the names people give things that travel between services and appear in URLs, object keys and served
// model names: projects, aliases, adapters. One rule, checked by every entry point (CLI, services, HTTP), so that no
// name can collide with the separators the serving names use ("<project>:<alias>", "<project>:v<N>") or with a path.
namespace FineTune.Contracts;

public static class ResourceNames
{
    public const int MaxLength = 64;

    /// <summary>Why <paramref name="name"/> is not a valid name, or null when it is: 1–64 characters of lower-case
    /// letters, digits, '-', '_' and '.', starting with a letter or digit.</summary>
    public static string? Problem(string? name)
    {
        if (string.IsNullOrEmpty(name))
            return "a name cannot be empty";
        if (name.Length > MaxLength)
            return $"a name has at most {MaxLength} characters (this one has {name.Length})";
        if (!char.IsAsciiLetterLower(name[0]) && !char.IsAsciiDigit(name[0]))
            return "a name starts with a lower-case letter or a digit";
        foreach (var c in name)
            if (!char.IsAsciiLetterLower(c) && !char.IsAsciiDigit(c) && c is not ('-' or '_' or '.'))
                return "a name holds only lower-case letters, digits, '-', '_' and '.'";
        return null;
    }

    /// <summary>Returns the name, or throws ArgumentException naming <paramref name="what"/> and the rule.</summary>
    public static string Validate(string? name, string what) =>
        Problem(name) is { } problem
            ? throw new ArgumentException($"{what} {Shown(name)} is not a valid name: {problem}.") : name!;

    /// <summary>A name as it may be shown in a message: quoted, escaped, and cut to a readable length.</summary>
    public static string Shown(string? name)
    {
        if (name is null)
            return "(none)";
        var cut = name.Length > MaxLength ? name[..MaxLength] + "…" : name;
        return "'" + string.Concat(cut.Select(c => char.IsControl(c) || c == '\'' ? $"\\u{(int)c:x4}"
            : c.ToString())) + "'";
    }
}
