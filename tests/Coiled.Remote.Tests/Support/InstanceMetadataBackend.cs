using System.Net;
using System.Runtime.CompilerServices;
using Coiled.Remote.Ec2.Simulation;
using Coiled.Remote.Worker;

namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Workers in this process, as <see cref="InProcessBackend"/> starts them, each polling its own instance metadata on a
/// fake IMDSv2 (<see cref="LocalInstanceMetadata"/>) as an EC2 instance's worker does: instance <c>i-1</c> for the first
/// worker started, <c>i-2</c> for the next, and so on, replacements included.
/// </summary>
internal sealed class InstanceMetadataBackend(LocalInstanceMetadata metadata, TimeSpan pollPeriod, string cacheDirectory) : IClusterBackend
{
    private readonly List<WorkerHost> _hosts = [];

    public string Name => "in-process workers on fake EC2 instances";

    public int DefaultWorkerCount => 2;

    public decimal? Cost => 0m;

    /// <summary>The instance each worker started runs on, by worker id.</summary>
    public Dictionary<string, string> InstanceOf { get; } = [];

    public async Task<IReadOnlyList<WorkerEndpoint>> StartWorkersAsync(WorkerLaunch launch, CancellationToken cancellationToken)
    {
        var endpoints = new List<WorkerEndpoint>();
        for (var i = 0; i < launch.Count; i++)
        {
            var instance = $"i-{_hosts.Count + 1}";
            var host = await WorkerHost.StartAsync(new WorkerHostOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                Token = launch.Token,
                CacheDirectory = cacheDirectory,
                HostEnvironment = true,
                Slots = 2,
                LoggerFactory = launch.LoggerFactory,
                InstanceMetadata = metadata.AddressFor(instance),
                InstanceMetadataPollPeriod = pollPeriod,
            }, cancellationToken);
            _hosts.Add(host);
            InstanceOf[host.WorkerId] = instance;
            endpoints.Add(new WorkerEndpoint(host.Address) { UsesCallerProcess = true });
        }

        return endpoints;
    }

    public async IAsyncEnumerable<WorkerEndpoint> StartWorkersStreamingAsync(WorkerLaunch launch, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var endpoint in await StartWorkersAsync(launch, cancellationToken))
        {
            yield return endpoint;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        _hosts.Clear();
    }
}
