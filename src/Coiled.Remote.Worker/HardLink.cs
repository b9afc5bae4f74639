using System.Runtime.InteropServices;

namespace Coiled.Remote.Worker;

/// <summary>
/// A second name for a cached file: what an environment folder is made of. Unlike a symbolic link it needs no rights
/// (Windows grants symbolic links only to administrators and in Developer Mode), and it shares the file's read-only
/// mode and fixed time, so that a write through it is seen as a write to the cached file.
/// </summary>
internal static class HardLink
{
    /// <summary>
    /// Makes <paramref name="path"/> another name of <paramref name="existing"/>; false where the file system refuses (one
    /// without hard links, such as FAT, another volume, or a file with the most links it allows), and the caller copies.
    /// </summary>
    public static bool TryCreate(string existing, string path)
    {
        try
        {
            return OperatingSystem.IsWindows() ? CreateHardLink(path, existing, IntPtr.Zero) : Link(existing, path) == 0;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // A platform without the call: copies serve as well, with more disk.
            return false;
        }
    }

    /// <summary>POSIX link(2).</summary>
    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string existing, [MarshalAs(UnmanagedType.LPUTF8Str)] string path);

    /// <summary>Win32 CreateHardLinkW: the new name first.</summary>
    [DllImport("kernel32.dll", EntryPoint = "CreateHardLinkW", SetLastError = true, CharSet = CharSet.Unicode)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static extern bool CreateHardLink(string path, string existing, IntPtr securityAttributes);
}
