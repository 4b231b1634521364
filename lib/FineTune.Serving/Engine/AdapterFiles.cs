// What a runtime adapter load may read: a directory inside the configured adapters root, reached without '..' or
// symbolic links, holding adapter_config.json (at most 64 KiB) and adapter_model.safetensors (at most MaxAdapterBytes),
// both regular files — not a FIFO that would hang the request, not /dev/zero that would fill memory. Refusals name the
// adapter and the rule, never an absolute path or a byte of the files.
using System.Runtime.InteropServices;
using FineTune.Serving.Api;

namespace FineTune.Serving.Engine;

public static class AdapterFiles
{
    public const long MaxConfigBytes = 64 * 1024;
    public const string ConfigFile = "adapter_config.json", WeightsFile = "adapter_model.safetensors";

    /// <summary>The adapter directory for <paramref name="requested"/> (relative to <paramref name="root"/>, or
    /// absolute inside it), checked as above; otherwise an OpenAiError 400 on param lora_path.</summary>
    public static string Resolve(string root, string requested, long maxWeightsBytes, string adapter)
    {
        OpenAiError Refuse(string why) => OpenAiError.Invalid($"Adapter '{adapter}': {why}.", "lora_path");
        if (string.IsNullOrWhiteSpace(requested) || requested.Contains('\0'))
            throw Refuse("lora_path is empty");
        if (requested.Split('/', '\\').Contains(".."))
            throw Refuse("'..' is not allowed in lora_path");
        var top = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(Path.Combine(top, requested)));
        if (full == top || !full.StartsWith(top + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            throw Refuse("lora_path must name a directory inside the server's adapters root");
        // Every step below the root is a real directory: a symbolic link could lead anywhere.
        var step = top;
        foreach (var part in Path.GetRelativePath(top, full).Split(Path.DirectorySeparatorChar))
        {
            step = Path.Combine(step, part);
            var kind = Kind(step);
            if (kind == EntryKind.Missing)
                throw Refuse("no adapter directory at that lora_path under the adapters root");
            if (kind != EntryKind.Directory)
                throw Refuse("every part of lora_path must be a directory (no symbolic links)");
        }
        Check(full, ConfigFile, MaxConfigBytes, Refuse);
        Check(full, WeightsFile, maxWeightsBytes, Refuse);
        return full;
    }

    static void Check(string directory, string file, long maxBytes, Func<string, OpenAiError> refuse)
    {
        var path = Path.Combine(directory, file);
        switch (Kind(path))
        {
            case EntryKind.Missing:
                throw refuse($"the directory has no {file} (a PEFT adapter needs {ConfigFile} " +
                $"and {WeightsFile})");
            case EntryKind.File:
                break;
            default:
                throw refuse($"{file} must be a regular file (not a link, pipe or device)");
        }
        long size = new FileInfo(path).Length;
        if (size > maxBytes)
            throw refuse($"{file} is {size:N0} bytes; the limit is {maxBytes:N0}");
    }

    enum EntryKind { Missing, Directory, File, Other }

    // lstat: the entry itself, never what a link points to. Through the runtime's own native shim (libSystem.Native),
    // whose FileStatus layout and file-type bits are the same on every Unix the runtime supports.
    static EntryKind Kind(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            var info = new FileInfo(path);
            if (!info.Exists && !Directory.Exists(path))
                return EntryKind.Missing;
            var attributes = File.GetAttributes(path);
            if (attributes.HasFlag(FileAttributes.ReparsePoint) || attributes.HasFlag(FileAttributes.Device))
                return EntryKind.Other;
            return attributes.HasFlag(FileAttributes.Directory) ? EntryKind.Directory : EntryKind.File;
        }
        if (LStat(path, out var status) != 0)
            return EntryKind.Missing;
        return (status.Mode & 0xF000) switch
        {
            0x4000 => EntryKind.Directory,   // S_IFDIR
            0x8000 => EntryKind.File,        // S_IFREG
            _ => EntryKind.Other,            // link, FIFO, device, socket
        };
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", CharSet = CharSet.Ansi, BestFitMapping = false)]
    static extern int LStat(string path, out FileStatus output);

    // pal_io.h's FileStatus; only Mode is read. Generous tail: the shim writes at most its own size.
    [StructLayout(LayoutKind.Sequential)]
    struct FileStatus
    {
        public int Flags;
        public int Mode;
        public uint Uid, Gid;
        public long Size, ATime, ATimeNsec, MTime, MTimeNsec, CTime, CTimeNsec, BirthTime, BirthTimeNsec, Dev, RDev,
            Ino;
        public long Tail0, Tail1, Tail2, Tail3, Tail4, Tail5, Tail6, Tail7;
    }
}
