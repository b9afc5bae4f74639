namespace Coiled.Remote.Dashboard;

/// <summary>A running dashboard server; disposing it stops it.</summary>
internal interface IDashboardServer : IAsyncDisposable
{
    /// <summary>Where the page is, e.g. <c>http://127.0.0.1:8787/</c>, without the token.</summary>
    Uri Uri { get; }

    /// <summary>Whether a viewer must show the cluster token: the server listens beyond loopback.</summary>
    bool RequiresToken { get; }
}
