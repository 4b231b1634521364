// File moves for the local store that tolerate a concurrent writer or deleter: rename into a folder that may just
// have been pruned, prune empty folders up to a stop, delete what may already be gone.
namespace FineTune.Artifacts;

internal static class LocalFiles
{
    /// <summary>Renames <paramref name="source"/> over <paramref name="destination"/> (atomic on one volume). A
    /// concurrent Delete may prune the folder between CreateDirectory and Move: create it again and retry.</summary>
    public static void MoveInto(string source, string destination)
    {
        for (var attempt = 0; ; attempt++)
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(destination)!);
                File.Move(source, destination, overwrite: true);
                return;
            }
            catch (DirectoryNotFoundException) when (attempt < 3)
            {
            }
    }

    /// <summary>Removes <paramref name="dir"/> and its parents while they are empty, stopping below <paramref
    /// name="stop"/>.</summary>
    public static void Prune(string dir, string stop)
    {
        for (; dir.Length > stop.Length && dir.StartsWith(stop,
            StringComparison.Ordinal); dir = Path.GetDirectoryName(dir)!)
            try
            {
                Directory.Delete(dir);
            }
            catch (IOException)
            {
                return;
            }
    }

    public static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (DirectoryNotFoundException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
