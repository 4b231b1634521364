// A loopback port nobody listens on right now (the OS picks it), for a server a test starts.
using System.Net;
using System.Net.Sockets;

namespace FineTune.Tests;

public static class FreePorts
{
    public static int Next()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }
}
