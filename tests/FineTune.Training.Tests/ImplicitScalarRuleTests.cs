// The review rule behind ScalarOps, as a test: outside ScalarOps, our ML code makes no TorchSharp call that creates a
// Scalar and lets it go. TorchSharp hands a Scalar's bare handle to libtorch and keeps no reference to it, so a
// collection on another thread can free it mid-call (GcRaceTests shows the crash). The rule reads the compiled IL of
// FineTune.Torch and FineTune.Training: a call is flagged when it converts a number to a Scalar (Scalar.op_Implicit,
// ToScalar), passes a Scalar to TorchSharp, or calls a TorchSharp member that converts one inside without disposing it
// (Tensor * double, pow(double), …), followed three calls deep into TorchSharp.
using System.Reflection;
using System.Reflection.Emit;
using FineTune.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace FineTune.Training.Tests;

public class ImplicitScalarRuleTests
{
    [Fact]
    public void No_code_outside_ScalarOps_creates_a_TorchSharp_Scalar_it_does_not_hold()
    {
        var violations = new List<string>();
        foreach (var assembly in new[] { typeof(ScalarOps).Assembly, typeof(Trainer).Assembly })
            foreach (var type in assembly.GetTypes())
            {
                if (type == typeof(ScalarOps) || type.DeclaringType == typeof(ScalarOps))
                    continue;
                const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
                    | BindingFlags.Static | BindingFlags.DeclaredOnly;
                foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
                    foreach (var callee in IL.Calls(method))
                        if (ScalarRule.Violates(callee) is { } why)
                            violations.Add($"{type.FullName}.{method.Name} calls " +
                                $"{callee.DeclaringType?.Name}.{callee.Name}: {why}");
            }
        Assert.True(violations.Count == 0, "use ScalarOps instead:\n" + string.Join("\n", violations.Distinct()));
    }

    [Fact]
    public void The_rule_catches_the_implicit_conversions_it_exists_for()
    {
        var flagged = IL.Calls(typeof(ImplicitScalarRuleTests).GetMethod(nameof(Offender),
            BindingFlags.NonPublic | BindingFlags.Static)!)
            .Where(c => ScalarRule.Violates(c) is not null).Select(c => c.Name).ToList();
        Assert.Contains("op_Multiply", flagged);   // x * 0.5
        Assert.Contains("op_Implicit", flagged);   // a Scalar made from a number
        Assert.DoesNotContain(IL.Calls(typeof(ScalarOps).GetMethod(nameof(ScalarOps.Times))!),
            c => c.Name == "op_Multiply");
    }

    static Tensor Offender(Tensor x)
    {
        Scalar s = 2.0;
        return (x * 0.5).mul(s);
    }
}

/// <summary>Which TorchSharp calls create a Scalar that nothing holds.</summary>
static class ScalarRule
{
    static readonly Dictionary<MethodBase, string?> Memo = [];

    public static string? Violates(MethodBase callee) => Check(callee, depth: 0);

    static string? Check(MethodBase callee, int depth)
    {
        // only TorchSharp's members
        if (callee.DeclaringType?.Assembly != typeof(Scalar).Assembly)
            return null;
        lock (Memo)
            if (Memo.TryGetValue(callee, out var known))
                return known;
        string? why = null;
        if (callee.DeclaringType == typeof(Scalar) && callee.Name == "op_Implicit")
            why = "converts a number to a Scalar";
        else if (callee.Name == "ToScalar")
            why = "creates a Scalar";
        else if (callee.GetParameters().Any(p => p.ParameterType == typeof(Scalar)))
            why = "takes a Scalar, which the caller made and may not hold";
        else if (depth < 3)
        {
            var inner = IL.Calls(callee).ToList();
            bool disposes = inner.Any(c => c.DeclaringType == typeof(Scalar) && c.Name == "Dispose");
            if (!disposes && inner.FirstOrDefault(c => c.DeclaringType == typeof(Scalar) && c.Name == "op_Implicit"
                || c.Name == "ToScalar") is { } make)
                why = $"converts a number to a Scalar inside ({make.Name}) and lets it go";
            else if (!disposes)
                foreach (var c in inner)
                    if (c != callee && Check(c, depth + 1) is { } deeper && !deeper.StartsWith("takes",
                        StringComparison.Ordinal))
                    {
                        why = $"calls {c.DeclaringType?.Name}.{c.Name}, which {deeper}";
                        break;
                    }
        }
        lock (Memo)
            Memo[callee] = why;
        return why;
    }
}

/// <summary>The methods a method body calls (call, callvirt, newobj, ldftn), read from its IL.</summary>
static class IL
{
    static readonly Dictionary<short,
        OpCode> Codes = typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!).ToDictionary(c => c.Value);

    public static IEnumerable<MethodBase> Calls(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or BadImageFormatException)
        {
            yield break;
        }
        if (il is null)
            yield break;
        var typeArgs = method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null;
        var methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            // not IL we understand: stop rather than misread
            if (!Codes.TryGetValue(value, out var code))
                yield break;
            int size = Size(code.OperandType, il, i);
            if (code.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = null;
                try
                {
                    callee = method.Module.ResolveMethod(BitConverter.ToInt32(il, i), typeArgs, methodArgs);
                }
                catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException
                    or FileNotFoundException)
                {
                }
                if (callee is not null)
                    yield return callee;
            }
            i += size;
        }
    }

    static int Size(OperandType type, byte[] il, int at) => type switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
        _ => 4,
    };
}
