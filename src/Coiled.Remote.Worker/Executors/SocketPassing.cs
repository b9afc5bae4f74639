using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Coiled.Remote.Worker.Executors;

/// <summary>
/// Hands a connected socket from one process to another over a Unix socket (<c>SCM_RIGHTS</c>, Linux only): the
/// daemon gives a client's direct-route connection to an executor, which then owns it, with the daemon out of its path.
/// .NET has no API for this, hence <c>sendmsg</c>/<c>recvmsg</c> through libc, with Linux's 64-bit structure layouts.
/// </summary>
internal static partial class SocketPassing
{
    private const int SolSocket = 1;
    private const int ScmRights = 1;
    private const int MsgCmsgCloexec = 0x40000000;
    private const int FGetFl = 3;
    private const int FSetFl = 4;
    private const int ONonBlock = 0x800;

    /// <summary>Header of a control message: <c>size_t cmsg_len; int cmsg_level; int cmsg_type;</c>.</summary>
    private const int ControlHeaderBytes = 16;

    /// <summary>One control message holding one descriptor, padded to the size_t alignment (CMSG_SPACE(sizeof(int))).</summary>
    private const int ControlBytes = 24;

    /// <summary>Whether this machine can hand sockets over: Linux on a 64-bit processor.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux() && IntPtr.Size == 8;

    /// <summary>Sends <paramref name="marker"/> on <paramref name="link"/> with a duplicate of <paramref name="passed"/>'s descriptor beside it, blocking.</summary>
    /// <exception cref="SocketException">The link failed.</exception>
    public static unsafe void Send(Socket link, byte marker, Socket passed)
    {
        var linkAdded = false;
        var passedAdded = false;
        try
        {
            link.SafeHandle.DangerousAddRef(ref linkAdded);
            passed.SafeHandle.DangerousAddRef(ref passedAdded);
            var control = stackalloc byte[ControlBytes];
            new Span<byte>(control, ControlBytes).Clear();
            *(nuint*)control = ControlHeaderBytes + sizeof(int);
            *(int*)(control + 8) = SolSocket;
            *(int*)(control + 12) = ScmRights;
            *(int*)(control + ControlHeaderBytes) = (int)passed.SafeHandle.DangerousGetHandle();
            var data = marker;
            var vector = new IoVector { Base = &data, Length = 1 };
            var message = new MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = ControlBytes };
            while (true)
            {
                var sent = SendMessage((int)link.SafeHandle.DangerousGetHandle(), &message, 0);
                if (sent == 1)
                {
                    return;
                }

                var error = Marshal.GetLastPInvokeError();
                if (sent < 0 && error != 4)
                {
                    throw new SocketException(error);
                }
            }
        }
        finally
        {
            if (passedAdded)
            {
                passed.SafeHandle.DangerousRelease();
            }

            if (linkAdded)
            {
                link.SafeHandle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Receives one byte on <paramref name="link"/>, blocking, with the socket sent beside it, if any, as a blocking
    /// <see cref="Socket"/> this process owns. Null for the byte when the link ended first.
    /// </summary>
    /// <exception cref="SocketException">The link failed.</exception>
    public static unsafe (byte? Marker, Socket? Passed) Receive(Socket link)
    {
        var added = false;
        try
        {
            link.SafeHandle.DangerousAddRef(ref added);
            var control = stackalloc byte[ControlBytes];
            new Span<byte>(control, ControlBytes).Clear();
            byte data = 0;
            var vector = new IoVector { Base = &data, Length = 1 };
            var message = new MessageHeader { Vectors = &vector, VectorCount = 1, Control = control, ControlLength = ControlBytes };
            nint received;
            while ((received = ReceiveMessage((int)link.SafeHandle.DangerousGetHandle(), &message, MsgCmsgCloexec)) < 0)
            {
                var error = Marshal.GetLastPInvokeError();
                if (error != 4)
                {
                    throw new SocketException(error);
                }
            }

            Socket? passed = null;
            if (message.ControlLength >= ControlHeaderBytes + sizeof(int) && *(int*)(control + 8) == SolSocket && *(int*)(control + 12) == ScmRights)
            {
                var descriptor = *(int*)(control + ControlHeaderBytes);

                // The sender's copy may have been non-blocking (the flag belongs to the connection, not the descriptor);
                // this one is read by a thread of its own, blocking.
                var flags = ControlFile(descriptor, FGetFl, 0);
                if (flags >= 0 && (flags & ONonBlock) != 0)
                {
                    _ = ControlFile(descriptor, FSetFl, flags & ~ONonBlock);
                }

                passed = new Socket(new SafeSocketHandle(descriptor, ownsHandle: true));
            }

            return (received == 0 ? null : data, passed);
        }
        finally
        {
            if (added)
            {
                link.SafeHandle.DangerousRelease();
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static unsafe partial nint SendMessage(int socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    private static unsafe partial nint ReceiveMessage(int socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int ControlFile(int descriptor, int command, int argument);

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct msghdr</c> on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct MessageHeader
    {
        public void* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public void* Control;
        public nuint ControlLength;
        public int Flags;
    }
}
