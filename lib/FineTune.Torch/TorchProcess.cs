// Process-wide settings that libtorch's OpenMP runtime reads once, when it loads: call TorchProcess.Configure() first
// thing in Main, before anything touches TorchSharp. Left alone, OpenMP's workers spin-wait between parallel regions,
// burning the cores another libtorch process needs: on 2 cores, two 40-step pre-trainings side by side took 140 s each
// with the default policy and 32 s with PASSIVE (18-20 s alone either way). A value the user set is kept.
using System.Runtime.InteropServices;

namespace FineTune.Torch;

public static class TorchProcess
{
    public const string WaitPolicy = "OMP_WAIT_POLICY";

    public static void Configure() => SetDefault(WaitPolicy, "PASSIVE");

    /// <summary>Sets the variable in the native environment (which libraries read with getenv) and .NET's (which child
    /// processes inherit) unless it is already set; returns the value in effect.</summary>
    public static string SetDefault(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is { Length: > 0 } existing)
            return existing;
        Environment.SetEnvironmentVariable(name, value);
        // .NET on Unix keeps its own copy of the environment: native code sees only what setenv puts there.
        if (OperatingSystem.IsLinux())
            _ = SetEnvLinux(name, value, overwrite: 0);
        else if (OperatingSystem.IsMacOS())
            _ = SetEnvMac(name, value, overwrite: 0);
        return value;
    }

    /// <summary>The native environment's value (what libtorch sees), or null.</summary>
    public static string? NativeValue(string name) =>
        OperatingSystem.IsLinux() ? Marshal.PtrToStringUTF8(GetEnvLinux(name))
        : OperatingSystem.IsMacOS() ? Marshal.PtrToStringUTF8(GetEnvMac(name))
        : Environment.GetEnvironmentVariable(name);

    [DllImport("libc.so.6", EntryPoint = "setenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern int SetEnvLinux([MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc.so.6", EntryPoint = "getenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern nint GetEnvLinux([MarshalAs(UnmanagedType.LPUTF8Str)] string name);

    [DllImport("libc", EntryPoint = "setenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern int SetEnvMac([MarshalAs(UnmanagedType.LPUTF8Str)] string name,
        [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

    [DllImport("libc", EntryPoint = "getenv", BestFitMapping = false, ThrowOnUnmappableChar = true)]
    static extern nint GetEnvMac([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
}
