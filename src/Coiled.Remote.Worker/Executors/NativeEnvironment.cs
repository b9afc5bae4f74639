using System.Runtime.InteropServices;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// The process environment as native code sees it. On Unix, <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// changes only .NET's own copy; a spare executor bound to forwarded variables sets them here too, so that native
/// libraries (a database driver, OpenSSL) read them as they would in a process started with them.
/// </summary>
internal static class NativeEnvironment
{
    /// <summary>POSIX setenv; strings go as UTF-8 (the default for Unix).</summary>
    [DllImport("libc", EntryPoint = "setenv", SetLastError = true)]
    public static extern int SetVariable([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);
}
