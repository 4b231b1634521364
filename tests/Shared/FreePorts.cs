// A loopback port nobody listens on right now, for a server a test starts: drawn below Linux's ephemeral range
// (32768-60999), where the OS never hands out the source ports of outgoing connections; a port the OS picked from
// that range could be taken by some client's connection in the minutes before the server binds it.
using System.Net;
using System.Net.Sockets;

namespace FineTune.Tests;

public static class FreePorts
{
    public const int First = 20000, End = 32768;

    public static int Next()
    {
        for (int attempt = 0; ; attempt++)
        {
            int port = Random.Shared.Next(First, End);
            var probe = new TcpListener(IPAddress.Loopback, port);
            try
            {
                probe.Start();
                return port;
            }
            catch (SocketException) when (attempt < 500)
            {
            }
            finally
            {
                probe.Stop();
            }
        }
    }
}
