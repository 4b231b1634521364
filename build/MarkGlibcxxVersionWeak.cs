// MSBuild inline task (see TorchSharpGlibcxx.targets): marks the GLIBCXX_3.4.32 version requirement of
// libLibTorchSharp.so weak, so the library loads on hosts whose libstdc++ predates GCC 13.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class MarkGlibcxxVersionWeak : Task
{
    const string Version = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    [Required] public string Directory { get; set; } = "";
    [Required] public string Mode { get; set; } = "auto";

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory))
            return true;
        var libraries = System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        if (libraries.Length == 0)
            return true;

        if (Mode == "auto" && HostHasVersion(out var hostLib))
        {
            Log.LogMessage(MessageImportance.Low,
                $"{hostLib} provides {Version}; libLibTorchSharp.so left as shipped.");
            return true;
        }
        foreach (var library in libraries)
        {
            try
            {
                var result = Patch(library);
                Log.LogMessage(MessageImportance.Normal, $"libLibTorchSharp GLIBCXX fix-up: {library}: {result}");
            }
            catch (Exception e)
            {
                Log.LogError($"Could not mark {Version} weak in '{library}': {e.Message}. Set " +
                    $"TorchSharpGlibcxxFixup=never to skip.");
            }
        }
        return !Log.HasLoggedErrors;
    }

    static bool HostHasVersion(out string hostLib)
    {
        string[] candidates =
        [
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        ];
        foreach (var candidate in candidates)
        {
            if (!File.Exists(candidate))
                continue;
            hostLib = candidate;
            var needle = Encoding.ASCII.GetBytes(Version + "\0");
            return IndexOf(File.ReadAllBytes(candidate), needle) >= 0;
        }
        hostLib = "(no libstdc++.so.6 found)";
        return false; // Unknown host: a weak requirement is harmless where the version exists, so patch.
    }

    static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = Array.IndexOf(haystack,
            needle[0]); i >= 0 && i <= haystack.Length - needle.Length; i = Array.IndexOf(haystack, needle[0], i + 1))
        {
            int j = 1;
            while (j < needle.Length && haystack[i + j] == needle[j])
                j++;
            if (j == needle.Length)
                return i;
        }
        return -1;
    }

    // Walks .gnu.version_r (Elf64_Verneed / Elf64_Vernaux) and sets VER_FLG_WEAK on the GLIBCXX_3.4.32 entry.
    // Writes through a temporary file and a rename, so a hard link into the NuGet cache is never written through.
    static string Patch(string path)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F'
            || elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("not a little-endian 64-bit ELF file");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = checked((int)shoff + i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed)
                continue;
            int verneed = checked((int)BitConverter.ToUInt64(elf, sh + 24));
            uint strtabIndex = BitConverter.ToUInt32(elf, sh + 40), count = BitConverter.ToUInt32(elf, sh + 44);
            int strtab = checked((int)BitConverter.ToUInt64(elf,
                checked((int)shoff + (int)strtabIndex * shentsize) + 24));

            int vn = verneed;
            for (uint n = 0; n < count; n++)
            {
                int auxCount = BitConverter.ToUInt16(elf, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(elf, vn + 8);
                for (int a = 0; a < auxCount; a++)
                {
                    int name = strtab + (int)BitConverter.ToUInt32(elf, aux + 8);
                    int end = Array.IndexOf(elf, (byte)0, name);
                    if (Encoding.ASCII.GetString(elf, name, end - name) == Version)
                    {
                        ushort flags = BitConverter.ToUInt16(elf, aux + 4);
                        if ((flags & VerFlgWeak) != 0)
                            return "already weak";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(elf, aux + 4);
                        var temporary = path + ".glibcxx-tmp";
                        File.WriteAllBytes(temporary, elf);
                        File.Delete(path);
                        File.Move(temporary, path);
                        return "marked weak";
                    }
                    aux += (int)BitConverter.ToUInt32(elf, aux + 12);
                }
                vn += (int)BitConverter.ToUInt32(elf, vn + 12);
            }
            return $"no {Version} requirement (nothing to do)";
        }
        return "no .gnu.version_r section (nothing to do)";
    }
}
