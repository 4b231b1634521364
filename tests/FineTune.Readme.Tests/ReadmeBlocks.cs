// The README's runnable blocks: a fenced block right after a `<!-- readme-test: NAME -->` line. The test runs exactly
// these lines, so the page a newcomer follows is the page CI checks.
namespace FineTune.Readme.Tests;

public sealed record ReadmeBlock(string Name, int Line, IReadOnlyList<string> Commands);

public static class ReadmeBlocks
{
    const string Marker = "<!-- readme-test:";

    public static IReadOnlyList<ReadmeBlock> Parse(string markdown)
    {
        var lines = markdown.Split('\n').Select(l => l.TrimEnd('\r')).ToArray();
        var blocks = new List<ReadmeBlock>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith(Marker, StringComparison.Ordinal))
                continue;
            var name = lines[i][Marker.Length..].Replace("-->", "", StringComparison.Ordinal).Trim();
            if (i + 1 >= lines.Length || !lines[i + 1].StartsWith("```", StringComparison.Ordinal))
                throw new FormatException($"README.md:{i + 1}: '{name}' is not followed by a fenced block.");
            var commands = new List<string>();
            int j = i + 2;
            for (; j < lines.Length && !lines[j].StartsWith("```", StringComparison.Ordinal); j++)
                if (lines[j].Trim().Length > 0)
                    commands.Add(lines[j]);
            if (j == lines.Length)
                throw new FormatException($"README.md:{i + 2}: the '{name}' block is never closed.");
            blocks.Add(new ReadmeBlock(name, i + 3, commands));
            i = j;
        }
        return blocks;
    }
}
