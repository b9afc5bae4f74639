// Ec2Quickstart: HelloRemote's job on 4 EC2 workers that terminate themselves and leave nothing behind.
// Needs AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and a region (AWS_REGION, default us-east-1).
// Costs about a cent: 4 x c7i.large for a few minutes. See "Running on EC2" in the README for the IAM policy.
using Coiled.Remote;
using Coiled.Remote.Ec2;
using Microsoft.Extensions.Logging;

using var loggerFactory = LoggerFactory.Create(logging => logging.AddSimpleConsole(c => c.SingleLine = true).SetMinimumLevel(LogLevel.Information));
var region = Environment.GetEnvironmentVariable("AWS_REGION") ?? "us-east-1";

Cluster cluster;
try
{
    cluster = await Cluster.StartAsync(new ClusterOptions
    {
        Workers = 4,
        Backend = new Ec2Backend(new Ec2Options { Region = region, InstanceType = "c7i.large", Spot = true }),
        LoggerFactory = loggerFactory,
    });
}
catch (ClusterStartException ex)
{
    Console.Error.WriteLine($"Ec2Quickstart could not start its EC2 cluster in {region}: {ex.Message}");
    return 1;
}

await using (cluster)
{
    Console.WriteLine($"Started {cluster.Workers.Count} workers: {string.Join(", ", cluster.Workers.Select(w => w.Address))}");

    double[] squares = await cluster.MapAsync(Jobs.Square, Enumerable.Range(0, 10).Select(i => (double)i));
    Console.WriteLine($"Squares: {string.Join(", ", squares)}");

    Point moved = await cluster.SubmitAsync(Jobs.Move, new Point(1, 2), 3.0);
    Console.WriteLine($"Moved: {moved}");

    string[] hosts = await cluster.MapAsync(Jobs.WhereAmI, Enumerable.Range(0, 8));
    foreach (var group in hosts.Select((host, item) => (host, item)).GroupBy(p => p.host))
    {
        Console.WriteLine($"{group.Key} ran items {string.Join(", ", group.Select(g => g.item))}");
    }

    Console.WriteLine($"Cost so far: ≈ ${cluster.Cost:0.000}");
}

// Disposing terminated the instances, waited for them, and deleted the security group.
return 0;

/// <summary>The methods this sample runs remotely.</summary>
public static class Jobs
{
    [Remote]
    public static double Square(double x) => x * x;

    [Remote]
    public static Point Move(Point p, double dx) => p with { X = p.X + dx };

    [Remote]
    public static async Task<string> WhereAmI(int item, CancellationToken cancellationToken)
    {
        await Task.Delay(50, cancellationToken);
        return Environment.MachineName;
    }
}

/// <summary>A plain record: no serializer attributes needed.</summary>
public sealed record Point(double X, double Y);
