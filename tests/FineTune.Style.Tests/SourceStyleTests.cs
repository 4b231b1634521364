// Readable lines, as in dotnet/runtime: at most 120 characters unless literal text (a string, a raw string, a
// regular expression) crosses the limit; an embedded statement on its own line; no control block on one line.
// Usings sorted as dotnet format sorts them (System first). scripts/test.sh checks whitespace with `dotnet format
// whitespace --folder`, which needs no build; these rules it cannot check.
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace FineTune.Style.Tests;

public class SourceStyleTests
{
    public const int MaxLineLength = 120;
    static readonly Lazy<IReadOnlyList<SyntaxTree>> s_trees = new(SourceFiles.Parse);

    [Fact]
    public void Lines_fit_in_120_characters_unless_literal_text_crosses_the_limit()
    {
        var violations = s_trees.Value.SelectMany(LongLines).ToList();
        Assert.True(violations.Count == 0, Report(violations, "lines longer than 120 characters"));
    }

    [Fact]
    public void Embedded_statements_start_on_their_own_line()
    {
        var violations = s_trees.Value.SelectMany(EmbeddedOnSameLine).ToList();
        Assert.True(violations.Count == 0, Report(violations, "embedded statements on the line of their if/loop"));
    }

    [Fact]
    public void Blocks_of_control_statements_are_not_written_on_one_line()
    {
        var violations = s_trees.Value.SelectMany(OneLineBlocks).ToList();
        Assert.True(violations.Count == 0, Report(violations, "one-line blocks"));
    }

    [Fact]
    public void Usings_are_sorted_with_System_first()
    {
        var violations = s_trees.Value.SelectMany(UnsortedUsings).ToList();
        Assert.True(violations.Count == 0, Report(violations, "using directives out of order"));
    }

    [Fact]
    public void The_rules_find_what_they_forbid()
    {
        // Each rule against a sample that breaks it, so a rule that silently matches nothing is caught.
        var sample = CSharpSyntaxTree.ParseText($$"""
            using System.Text;
            using Microsoft.CodeAnalysis;
            using System.IO;
            class C
            {
                int M(int x)
                {
                    if (x > 0) return 1;
                    try { x++; } catch { }
                    var s = "{{new string('a', 130)}}";
                    var t = x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x + x;
                    return s.Length + t;
                }
            }
            """, path: "sample.cs");
        Assert.Equal([8], EmbeddedOnSameLine(sample).Select(Line));
        Assert.Equal([9, 9], OneLineBlocks(sample).Select(Line));
        Assert.Equal([11], LongLines(sample).Select(Line));
        Assert.Equal([3], UnsortedUsings(sample).Select(Line));
    }

    static int Line(string violation) => int.Parse(violation.Split(':')[1]);

    static IEnumerable<string> LongLines(SyntaxTree tree)
    {
        var text = tree.GetText();
        var root = tree.GetRoot();
        foreach (var line in text.Lines)
        {
            if (line.Span.Length <= MaxLineLength)
                continue;
            var token = root.FindToken(line.Start + MaxLineLength, findInsideTrivia: true);
            if (!IsLiteralText(token, line.Start + MaxLineLength))
                yield return $"{tree.FilePath}:{line.LineNumber + 1}: {line.Span.Length} characters";
        }
    }

    static bool IsLiteralText(SyntaxToken token, int position)
    {
        if (!token.Span.Contains(position) && !token.FullSpan.Contains(position))
            return false;
        if (!token.Span.Contains(position))
            return false;   // whitespace or a comment: breakable
        if (token.Kind() is SyntaxKind.StringLiteralToken or SyntaxKind.Utf8StringLiteralToken
            or SyntaxKind.SingleLineRawStringLiteralToken or SyntaxKind.MultiLineRawStringLiteralToken
            or SyntaxKind.Utf8SingleLineRawStringLiteralToken or SyntaxKind.Utf8MultiLineRawStringLiteralToken
            or SyntaxKind.InterpolatedStringTextToken or SyntaxKind.CharacterLiteralToken)
            return true;
        // Inside an interpolated string: its text and the short holes between are literal text too.
        return token.Parent?.AncestorsAndSelf().OfType<InterpolatedStringExpressionSyntax>().Any() == true;
    }

    static IEnumerable<string> EmbeddedOnSameLine(SyntaxTree tree)
    {
        foreach (var node in tree.GetRoot().DescendantNodes())
        {
            var (statement, header) = node switch
            {
                IfStatementSyntax s => (s.Statement, s.CloseParenToken),
                ElseClauseSyntax s when s.Statement is not IfStatementSyntax => (s.Statement, s.ElseKeyword),
                WhileStatementSyntax s => (s.Statement, s.CloseParenToken),
                ForStatementSyntax s => (s.Statement, s.CloseParenToken),
                CommonForEachStatementSyntax s => (s.Statement, s.CloseParenToken),
                UsingStatementSyntax s => (s.Statement, s.CloseParenToken),
                LockStatementSyntax s => (s.Statement, s.CloseParenToken),
                FixedStatementSyntax s => (s.Statement, s.CloseParenToken),
                DoStatementSyntax s => (s.Statement, s.DoKeyword),
                _ => ((StatementSyntax?)null, default(SyntaxToken)),
            };
            if (statement is null or BlockSyntax || node is UsingStatementSyntax { Statement: UsingStatementSyntax })
                continue;
            if (LineOf(tree, statement.SpanStart) == LineOf(tree, header.SpanStart))
                yield return $"{tree.FilePath}:{LineOf(tree, statement.SpanStart) + 1}: {Head(statement)}";
        }
    }

    static IEnumerable<string> OneLineBlocks(SyntaxTree tree)
    {
        foreach (var block in tree.GetRoot().DescendantNodes().OfType<BlockSyntax>())
        {
            bool control = block.Parent is IfStatementSyntax or ElseClauseSyntax or WhileStatementSyntax
                or ForStatementSyntax or CommonForEachStatementSyntax or UsingStatementSyntax or LockStatementSyntax
                or TryStatementSyntax or CatchClauseSyntax or FinallyClauseSyntax or DoStatementSyntax;
            int open = LineOf(tree, block.OpenBraceToken.SpanStart);
            if (control && open == LineOf(tree, block.CloseBraceToken.SpanStart))
                yield return $"{tree.FilePath}:{LineOf(tree, block.SpanStart) + 1}: {Head(block)}";
        }
    }

    // Per block of usings (file or namespace): plain usings, then static, then aliases; within each, System and
    // System.* first, then the rest, ordinal ignoring case.
    static IEnumerable<string> UnsortedUsings(SyntaxTree tree)
    {
        var blocks = tree.GetRoot().DescendantNodesAndSelf()
            .Select(n => n switch
            {
                CompilationUnitSyntax c => c.Usings,
                BaseNamespaceDeclarationSyntax ns => ns.Usings,
                _ => default(SyntaxList<UsingDirectiveSyntax>?),
            })
            .OfType<SyntaxList<UsingDirectiveSyntax>>();
        foreach (var usings in blocks)
        {
            for (var i = 1; i < usings.Count; i++)
            {
                if (Compare(usings[i - 1], usings[i]) > 0)
                    yield return $"{tree.FilePath}:{LineOf(tree, usings[i].SpanStart) + 1}: {Head(usings[i])}";
            }
        }

        static int Compare(UsingDirectiveSyntax a, UsingDirectiveSyntax b)
        {
            static int Group(UsingDirectiveSyntax u) => u.Alias is not null ? 2 : u.StaticKeyword != default ? 1 : 0;
            static bool IsSystem(string name) =>
                name == "System" || name.StartsWith("System.", StringComparison.Ordinal);
            var (na, nb) = (a.NamespaceOrType.ToString(), b.NamespaceOrType.ToString());
            if (a.Alias is not null && b.Alias is not null)
                (na, nb) = (a.Alias.Name.ToString(), b.Alias.Name.ToString());
            var byGroup = Group(a).CompareTo(Group(b));
            if (byGroup != 0)
                return byGroup;
            var bySystem = IsSystem(nb).CompareTo(IsSystem(na));
            return bySystem != 0 ? bySystem : string.Compare(na, nb, StringComparison.OrdinalIgnoreCase);
        }
    }

    static int LineOf(SyntaxTree tree, int position) => tree.GetLineSpan(new(position, 0)).StartLinePosition.Line;

    static string Head(SyntaxNode node)
    {
        var text = node.ToString().ReplaceLineEndings(" ");
        return text.Length <= 60 ? text : text[..60] + "…";
    }

    static string Report(List<string> violations, string what) =>
        $"{violations.Count} {what} (dotnet/runtime style; wrap at a comma or an operator, put the statement on " +
        $"the next line):\n" + string.Join('\n', violations.Take(40));
}
