using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

// The simulated instances boot with bash, in Linux network namespaces where those can be made.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]

namespace Coiled.Remote.Ec2.Simulation;

/// <summary>
/// A local endpoint on 127.0.0.1 that speaks the EC2 Query API (form-encoded POST, XML answers in the documented
/// shapes) to the real AWSSDK.EC2 client, and STS's GetCallerIdentity; beside it a <see cref="LocalS3Endpoint"/>
/// (s3rver) for the staging bucket. RunInstances "boots" each instance by running its user data with bash in a sandbox
/// folder where nothing is installed: `dotnet` is a stub that fails (and says so in the sandbox's dotnet.log), so
/// the worker that runs is the self-contained one the script fetched from the local S3 endpoint with real curl;
/// `systemctl` and `shutdown` are stubs that record power-off; the instance listens on its own loopback address
/// 127.0.0.N. When the script ends after a power-off, the instance terminates or stops as its shutdown behaviour says.
/// </summary>
public sealed partial class LocalEc2Endpoint : IAsyncDisposable
{
    public const string Region = "us-east-1";
    public const string DefaultVpc = "vpc-0defa017";
    private static readonly XNamespace Ns = "http://ec2.amazonaws.com/doc/2016-11-15/";
    private static int s_nextAddress = (Environment.ProcessId % 20) * 10;

    private readonly WebApplication _app;
    private readonly Lock _lock = new();
    private readonly List<FakeInstance> _forgotten = [];
    private readonly List<Ec2Call> _calls = [];
    private readonly Dictionary<string, FakeInstance> _instances = new(StringComparer.Ordinal);
    private readonly Dictionary<string, FakeGroup> _groups = new(StringComparer.Ordinal);
    private readonly List<Task> _background = [];
    private readonly string _bin;
    private readonly CancellationTokenSource _disposing = new();
    private int _ids = 0x1000;

    private LocalEc2Endpoint(WebApplication app, LocalS3Endpoint s3, LocalInstanceMetadata metadata, SandboxNetwork? network)
    {
        _app = app;
        S3 = s3;
        Metadata = metadata;
        Network = network;
        SandboxRoot = Directory.CreateTempSubdirectory("coiled-remote-ec2-sandbox-").FullName;
        _bin = WriteStubs(Directory.CreateDirectory(Path.Combine(SandboxRoot, "bin")).FullName);
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>
    /// The sandbox network the instances run in when the endpoint was started with one: each instance in a network
    /// namespace that reaches only the local S3 endpoint and the caller. Null: instances share this machine's network.
    /// </summary>
    public SandboxNetwork? Network { get; }

    /// <summary>The S3 endpoint of the staging bucket, which the instances fetch from too.</summary>
    public LocalS3Endpoint S3 { get; }

    /// <summary>
    /// The instances' metadata service (IMDSv2), beside the S3 endpoint: each instance's boot script is handed its own
    /// address there (<c>COILED_REMOTE_INSTANCE_METADATA</c>) in place of http://169.254.169.254.
    /// </summary>
    public LocalInstanceMetadata Metadata { get; }

    /// <summary>The account GetCallerIdentity names, and so the staging bucket's.</summary>
    public const string Account = "123456789012";

    /// <summary>The staging bucket the backend creates for <see cref="Account"/> in <see cref="Region"/>.</summary>
    public static string StagingBucketName => StagingBucket.NameFor(Account, Region);

    /// <summary>Where instances' sandboxes are; deleted on dispose.</summary>
    public string SandboxRoot { get; }

    public List<FakeImage> Images { get; } =
    [
        new("ami-0x86old", "al2023-ami-2023.10.20260105.0-kernel-6.12-x86_64", "x86_64", "2026-01-05T20:11:00.000Z"),
        new("ami-0x86new", "al2023-ami-2023.11.20260526.0-kernel-6.18-x86_64", "x86_64", "2026-05-26T19:02:00.000Z"),
        new("ami-0x86mini", "al2023-ami-minimal-2023.11.20260601.0-kernel-6.18-x86_64", "x86_64", "2026-06-01T10:00:00.000Z"),
        new("ami-0al2", "amzn2-ami-kernel-5.10-hvm-2.0.20260601.0-x86_64-gp2", "x86_64", "2026-06-02T10:00:00.000Z"),
        new("ami-0armnew", "al2023-ami-2023.11.20260526.0-kernel-6.18-arm64", "arm64", "2026-05-26T19:05:00.000Z"),
        new("ami-0armold", "al2023-ami-2023.9.20251101.0-kernel-6.1-arm64", "arm64", "2025-11-01T08:00:00.000Z"),
    ];

    public List<FakeSubnet> Subnets { get; } =
    [
        new("subnet-0b", DefaultVpc, "us-east-1b", DefaultForAz: true),
        new("subnet-0a", DefaultVpc, "us-east-1a", DefaultForAz: true),
        new("subnet-0private", "vpc-0other", "us-east-1a", DefaultForAz: false),
    ];

    /// <summary>RunInstances with spot market options fails with this error code (e.g. InsufficientInstanceCapacity).</summary>
    public string? SpotError { get; set; }

    /// <summary>DeleteSecurityGroup answers DependencyViolation this many more times after the group's instances are gone.</summary>
    public int ExtraDependencyViolations { get; set; } = 2;

    /// <summary>The IAM instance profiles of the account, by name.</summary>
    public HashSet<string> InstanceProfiles { get; } = new(StringComparer.Ordinal) { "coiled-workers" };

    /// <summary>RunInstances launches, and then answers 500 InternalError, this many more times (a retry with the same client token finds the launch's instances).</summary>
    public int InternalErrorAfterLaunch { get; set; }

    /// <summary>RunInstances answers UnauthorizedOperation, as for credentials that may not pass the instance profile's role.</summary>
    public bool DenyRunInstances { get; set; }

    /// <summary>RunInstances answers RequestLimitExceeded (EC2's throttling) this many more times, launching nothing.</summary>
    public int ThrottleRunInstances { get; set; }

    /// <summary>RunInstances requests are lost on the way: EC2 never acts on them, and the caller gets no answer.</summary>
    public bool LoseRunInstances { get; set; }

    /// <summary>TerminateInstances answers InvalidInstanceID.NotFound this many more times, as EC2 may for instances it just launched.</summary>
    public int TerminateNotFoundTimes { get; set; }

    /// <summary>TerminateInstances naming one of these instances answers InvalidInstanceID.NotFound for it, this many more times.</summary>
    public Dictionary<string, int> TerminateUnknown { get; } = new(StringComparer.Ordinal);

    /// <summary>Like EC2, the first DescribeInstances naming a just-launched instance answers InvalidInstanceID.NotFound.</summary>
    public bool NotFoundRightAfterLaunch { get; set; } = true;

    /// <summary>Run the user data of launched instances; when false they run but never start anything.</summary>
    public bool BootInstances { get; set; } = true;

    /// <summary>Awaited before each instance goes running: tests boot some instances late, or fail them (<see cref="FailBoot"/>).</summary>
    public Func<FakeInstance, Task>? BootGate { get; set; }

    /// <summary>The instance fails while booting: EC2 reports it terminated, as after a hardware failure.</summary>
    public void FailBoot(FakeInstance instance)
    {
        lock (_lock)
        {
            instance.State = "terminated";
            instance.StateReason = "Server.InternalError: Internal error on launch";
        }
    }

    /// <summary>
    /// EC2 takes a running instance away, as when it reclaims a spot instance or its host fails: the machine stops at
    /// once (its processes killed, no power-off of its own) and the instance goes shutting-down, then terminated.
    /// </summary>
    public void Reclaim(FakeInstance instance, string reason = "Server.SpotInstanceTermination: Spot instance termination")
    {
        lock (_lock)
        {
            if (instance.State is "terminated" or "shutting-down")
            {
                return;
            }

            instance.State = "shutting-down";
            instance.StateReason = reason;
            instance.TransitionedAt = DateTime.UtcNow;
            StopProcess(instance);
            _background.Add(FinishAsync(instance, "terminated"));
        }
    }

    /// <summary>EC2 forgets a terminated instance (as it does about an hour after): describing or terminating it by id answers InvalidInstanceID.NotFound.</summary>
    public void Forget(FakeInstance instance)
    {
        lock (_lock)
        {
            if (instance.State != "terminated")
            {
                throw new InvalidOperationException($"{instance.Id} is {instance.State}: EC2 forgets only terminated instances.");
            }

            _instances.Remove(instance.Id);
            _forgotten.Add(instance);
        }
    }

    /// <summary>How long shutting-down lasts.</summary>
    public TimeSpan TerminationDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Most items per page of Describe answers, so that clients must follow NextToken.</summary>
    public int PageSize { get; set; } = 2;

    /// <summary>Called with every call before it is answered.</summary>
    public Action<Ec2Call>? OnCall { get; set; }

    /// <summary>Called with every call after EC2 acted on it and before the answer is sent.</summary>
    public Action<Ec2Call>? AfterAnswer { get; set; }

    public string SpotPrice { get; set; } = "0.0312";

    public IReadOnlyList<Ec2Call> Calls
    {
        get
        {
            lock (_lock)
            {
                return [.. _calls];
            }
        }
    }

    public IReadOnlyList<FakeInstance> Instances
    {
        get
        {
            lock (_lock)
            {
                return [.. _instances.Values];
            }
        }
    }

    public IReadOnlyList<FakeGroup> Groups
    {
        get
        {
            lock (_lock)
            {
                return [.. _groups.Values];
            }
        }
    }

    /// <summary>Starts the endpoint; with <paramref name="isolateNetwork"/>, its instances run in a <see cref="SandboxNetwork"/>.</summary>
    public static async Task<LocalEc2Endpoint> StartAsync(bool isolateNetwork = false)
    {
        var network = isolateNetwork ? SandboxNetwork.Create() : null;
        LocalS3Endpoint s3;
        LocalInstanceMetadata metadata;
        try
        {
            s3 = await LocalS3Endpoint.StartAsync(network?.HostAddress ?? IPAddress.Loopback);
        }
        catch
        {
            network?.Dispose();
            throw;
        }

        try
        {
            metadata = await LocalInstanceMetadata.StartAsync(network?.HostAddress ?? IPAddress.Loopback);
        }
        catch
        {
            await s3.DisposeAsync();
            network?.Dispose();
            throw;
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var endpoint = new LocalEc2Endpoint(app, s3, metadata, network);
        app.MapPost("/", endpoint.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        endpoint.Url = new Uri(address + "/");
        return endpoint;
    }

    /// <summary>The options that point the EC2 backend at this endpoint with test credentials.</summary>
    public Ec2Options Options(string instanceType = "c7i.large", bool spot = false) => new()
    {
        Region = Region,
        ServiceUrl = Url,
        S3ServiceUrl = S3.Url,
        Credentials = new Amazon.Runtime.BasicAWSCredentials(LocalS3Endpoint.AccessKey, LocalS3Endpoint.SecretKey),
        InstanceType = instanceType,
        Spot = spot,
        WorkerPort = FreePort(),
    };

    /// <summary>Instances not terminated.</summary>
    public IReadOnlyList<FakeInstance> LiveInstances => [.. Instances.Where(i => i.State != "terminated")];

    public async ValueTask DisposeAsync()
    {
        await _disposing.CancelAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var instance in Instances)
        {
            StopProcess(instance);
        }

        Task[] background;
        lock (_lock)
        {
            background = [.. _background];
        }

        try
        {
            // Generous: on a busy machine the processes of a dozen instances take a while to die. A test whose
            // instances outlive this fails, and what it made is removed all the same.
            await Task.WhenAll(background).WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            Directory.Delete(SandboxRoot, recursive: true);
            await S3.DisposeAsync();
            await Metadata.DisposeAsync();
            Network?.Dispose();
            _disposing.Dispose();
        }
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var form = await context.Request.ReadFormAsync();
        var call = new Ec2Call(
            form["Action"].ToString(), form.ToDictionary(f => f.Key, f => f.Value.ToString(), StringComparer.Ordinal),
            SignedBy().Match(context.Request.Headers.Authorization.ToString()) is { Success: true } signed ? signed.Groups[1].Value : null);
        lock (_lock)
        {
            _calls.Add(call);
        }

        OnCall?.Invoke(call);
        if (call.Action == "RunInstances" && LoseRunInstances)
        {
            // Lost on the way: EC2 never acts on it, and the caller's connection is reset.
            context.Abort();
            return;
        }

        if (call.Action == "GetCallerIdentity")
        {
            await AnswerCallerIdentityAsync(context, call);
            return;
        }

        XElement body;
        try
        {
            lock (_lock)
            {
                body = Answer(call);
            }
        }
        catch (Ec2Error error)
        {
            context.Response.StatusCode = error.Status;
            context.Response.ContentType = "text/xml;charset=UTF-8";
            var xml = new XElement("Response",
                new XElement("Errors", new XElement("Error", new XElement("Code", error.Code), new XElement("Message", error.Message))),
                new XElement("RequestID", Guid.NewGuid()));
            await context.Response.WriteAsync(xml.ToString(SaveOptions.DisableFormatting));
            return;
        }

        AfterAnswer?.Invoke(call);
        body.AddFirst(new XElement(Ns + "requestId", Guid.NewGuid()));
        context.Response.ContentType = "text/xml;charset=UTF-8";
        await context.Response.WriteAsync(new XDocument(new XDeclaration("1.0", "UTF-8", null), body).Declaration + body.ToString(SaveOptions.DisableFormatting));
    }

    /// <summary>STS's answer, in its own namespace: the account of the test credentials.</summary>
    private static async Task AnswerCallerIdentityAsync(HttpContext context, Ec2Call call)
    {
        XNamespace sts = "https://sts.amazonaws.com/doc/2011-06-15/";
        var body = new XElement(sts + "GetCallerIdentityResponse",
            new XElement(sts + "GetCallerIdentityResult",
                new XElement(sts + "Arn", $"arn:aws:iam::{Account}:user/local-ec2-test"),
                new XElement(sts + "UserId", call.AccessKeyId),
                new XElement(sts + "Account", Account)),
            new XElement(sts + "ResponseMetadata", new XElement(sts + "RequestId", Guid.NewGuid())));
        context.Response.ContentType = "text/xml;charset=UTF-8";
        await context.Response.WriteAsync(body.ToString(SaveOptions.DisableFormatting));
    }

    private XElement Answer(Ec2Call call) => call.Action switch
    {
        "DescribeImages" => DescribeImages(call),
        "DescribeSubnets" => DescribeSubnets(call),
        "DescribeVpcs" => DescribeVpcs(call),
        "CreateSecurityGroup" => CreateSecurityGroup(call),
        "AuthorizeSecurityGroupIngress" => AuthorizeIngress(call),
        "DescribeSecurityGroups" => DescribeSecurityGroups(call),
        "DeleteSecurityGroup" => DeleteSecurityGroup(call),
        "RunInstances" => RunInstances(call),
        "DescribeInstances" => DescribeInstances(call),
        "TerminateInstances" => TerminateInstances(call),
        "GetConsoleOutput" => GetConsoleOutput(call),
        "DescribeSpotPriceHistory" => DescribeSpotPriceHistory(call),
        "DescribeInstanceTypeOfferings" => DescribeInstanceTypeOfferings(call),
        "DescribeInstanceTypes" => DescribeInstanceTypes(call),
        _ => throw new Ec2Error("InvalidAction", $"The action {call.Action} is not valid for this web service."),
    };

    private static XElement Response(string action, params object?[] content) => new(Ns + (action + "Response"), content);

    private static XElement E(string name, object? content) => new(Ns + name, content);

    private static XElement Set(string name, IEnumerable<XElement> items) => new(Ns + name, items.Select(i => new XElement(Ns + "item", i.Elements())));

    private static XElement TagSet(IReadOnlyDictionary<string, string> tags)
        => Set("tagSet", tags.Select(t => new XElement("x", E("key", t.Key), E("value", t.Value))));

    /// <summary>EC2 filter matching: every filter must match one of its values; values may hold * wildcards.</summary>
    private static bool Matches(Ec2Call call, Func<string, IEnumerable<string>?> attribute)
    {
        foreach (var (name, values) in call.Filters())
        {
            var actual = attribute(name) ?? throw new Ec2Error("InvalidParameterValue", $"The filter '{name}' is invalid");
            if (!actual.Any(a => values.Any(v => Glob(v).IsMatch(a))))
            {
                return false;
            }
        }

        return true;
    }

    private static Regex Glob(string pattern) => new("^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$");

    private static IEnumerable<string>? TagAttribute(string filter, IReadOnlyDictionary<string, string> tags)
        => filter == "tag-key" ? tags.Keys
            : filter.StartsWith("tag:", StringComparison.Ordinal) ? (tags.TryGetValue(filter[4..], out var v) ? [v] : [])
            : null;

    /// <summary>Pages <paramref name="items"/> like EC2: at most MaxResults (and this endpoint's page size) per answer.</summary>
    private (List<T> Page, string? Next) Paginate<T>(Ec2Call call, List<T> items)
    {
        var size = Math.Min(PageSize, int.TryParse(call["MaxResults"], out var max) ? max : int.MaxValue);
        var start = int.TryParse(call["NextToken"], out var token) ? token : 0;
        var page = items.Skip(start).Take(size).ToList();
        return (page, start + size < items.Count ? (start + size).ToString(CultureInfo.InvariantCulture) : null);
    }

    private XElement DescribeImages(Ec2Call call)
    {
        var owners = call.List("Owner");
        var ids = call.List("ImageId");
        var matching = Images.Where(i => (owners.Count == 0 || owners.Contains("amazon")) && (ids.Count == 0 || ids.Contains(i.ImageId)) && Matches(call, f => f switch
        {
            "name" => [i.Name],
            "architecture" => [i.Architecture],
            "state" => ["available"],
            "virtualization-type" => ["hvm"],
            "owner-alias" => ["amazon"],
            _ => null,
        })).ToList();
        var (page, next) = Paginate(call, matching);
        return Response("DescribeImages",
            Set("imagesSet", page.Select(i => new XElement("x",
                E("imageId", i.ImageId), E("imageLocation", "amazon/" + i.Name), E("imageState", "available"), E("imageOwnerId", "137112412989"),
                E("creationDate", i.CreationDate), E("isPublic", "true"), E("architecture", i.Architecture), E("imageType", "machine"),
                E("name", i.Name), E("rootDeviceType", "ebs"), E("rootDeviceName", FakeImage.RootDevice), E("virtualizationType", "hvm"), E("imdsSupport", "v2.0"),
                Set("blockDeviceMapping", [new XElement("x", E("deviceName", FakeImage.RootDevice),
                    E("ebs", new object[] { E("snapshotId", "snap-" + i.ImageId[4..]), E("volumeSize", i.RootVolumeGiB), E("deleteOnTermination", "true"), E("volumeType", "gp3") }))])))),
            next is null ? null : E("nextToken", next));
    }

    private XElement DescribeVpcs(Ec2Call call)
    {
        var vpcs = Subnets.Select(s => s.VpcId).Distinct().Where(v => call.List("VpcId") is var ids && (ids.Count == 0 || ids.Contains(v)));
        return Response("DescribeVpcs", Set("vpcSet", vpcs.Select(v => new XElement("x",
            E("vpcId", v), E("state", "available"), E("cidrBlock", v == DefaultVpc ? "172.31.0.0/16" : "10.0.0.0/16"), E("isDefault", v == DefaultVpc ? "true" : "false")))));
    }

    private XElement DescribeSubnets(Ec2Call call)
    {
        var ids = call.List("SubnetId");
        var matching = Subnets.Where(s => (ids.Count == 0 || ids.Contains(s.SubnetId)) && Matches(call, f => f switch
        {
            "default-for-az" => [s.DefaultForAz ? "true" : "false"],
            "state" => ["available"],
            "vpc-id" => [s.VpcId],
            _ => null,
        })).ToList();
        return Response("DescribeSubnets", Set("subnetSet", matching.Select(s => new XElement("x",
            E("subnetId", s.SubnetId), E("state", "available"), E("vpcId", s.VpcId), E("cidrBlock", "172.31.0.0/20"),
            E("availableIpAddressCount", 4090), E("availabilityZone", s.Zone), E("defaultForAz", s.DefaultForAz ? "true" : "false"),
            E("mapPublicIpOnLaunch", s.DefaultForAz ? "true" : "false")))));
    }

    private XElement CreateSecurityGroup(Ec2Call call)
    {
        var name = call["GroupName"] ?? throw new Ec2Error("MissingParameter", "The request must contain the parameter GroupName");
        var vpc = call["VpcId"] ?? throw new Ec2Error("VPCIdNotSpecified", "No default VPC for this user");
        if (_groups.Values.Any(g => g.Name == name && g.VpcId == vpc))
        {
            throw new Ec2Error("InvalidGroup.Duplicate", $"The security group '{name}' already exists for VPC '{vpc}'");
        }

        var group = new FakeGroup($"sg-{NextId()}", name, call["GroupDescription"] ?? string.Empty, vpc, call.TagsFor("security-group"));
        _groups[group.GroupId] = group;
        return Response("CreateSecurityGroup", E("return", "true"), E("groupId", group.GroupId), TagSet(group.Tags));
    }

    private XElement AuthorizeIngress(Ec2Call call)
    {
        var group = Group(call["GroupId"]);
        for (var i = 1; call[$"IpPermissions.{i}.IpProtocol"] is { } protocol; i++)
        {
            var ranges = call.List($"IpPermissions.{i}.IpRanges", "CidrIp").Concat(call.List($"IpPermissions.{i}.Ipv6Ranges", "CidrIpv6")).ToList();
            group.Ingress.Add(new FakeRule(protocol, int.Parse(call[$"IpPermissions.{i}.FromPort"]!, CultureInfo.InvariantCulture), int.Parse(call[$"IpPermissions.{i}.ToPort"]!, CultureInfo.InvariantCulture), ranges));
        }

        return Response("AuthorizeSecurityGroupIngress", E("return", "true"));
    }

    private XElement DescribeSecurityGroups(Ec2Call call)
    {
        var ids = call.List("GroupId");
        var matching = _groups.Values.Where(g => (ids.Count == 0 || ids.Contains(g.GroupId)) && Matches(call, f => f switch
        {
            "group-name" => [g.Name],
            "group-id" => [g.GroupId],
            "vpc-id" => [g.VpcId],
            _ => TagAttribute(f, g.Tags),
        })).ToList();
        var (page, next) = Paginate(call, matching);
        return Response("DescribeSecurityGroups",
            Set("securityGroupInfo", page.Select(g => new XElement("x",
                E("ownerId", "123456789012"), E("groupId", g.GroupId), E("groupName", g.Name), E("groupDescription", g.Description), E("vpcId", g.VpcId),
                Set("ipPermissions", g.Ingress.Select(r => new XElement("x", E("ipProtocol", r.Protocol), E("fromPort", r.FromPort), E("toPort", r.ToPort),
                    Set("ipRanges", r.Ranges.Select(c => new XElement("x", E("cidrIp", c))))))),
                TagSet(g.Tags)))),
            next is null ? null : E("nextToken", next));
    }

    private XElement DeleteSecurityGroup(Ec2Call call)
    {
        var group = Group(call["GroupId"]);
        if (_instances.Values.Any(i => i.State != "terminated" && i.GroupIds.Contains(group.GroupId)) || ExtraDependencyViolations-- > 0)
        {
            throw new Ec2Error("DependencyViolation", $"resource {group.GroupId} has a dependent object");
        }

        _groups.Remove(group.GroupId);
        return Response("DeleteSecurityGroup", E("return", "true"), E("groupId", group.GroupId));
    }

    private FakeGroup Group(string? id)
        => id is not null && _groups.TryGetValue(id, out var group) ? group : throw new Ec2Error("InvalidGroup.NotFound", $"The security group '{id}' does not exist");

    private XElement RunInstances(Ec2Call call)
    {
        if (DenyRunInstances)
        {
            throw new Ec2Error("UnauthorizedOperation", "You are not authorized to perform this operation. User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:PassRole. Encoded authorization failure message: AbCdEf0123", status: 403);
        }

        if (ThrottleRunInstances > 0)
        {
            ThrottleRunInstances--;
            throw new Ec2Error("RequestLimitExceeded", "Request limit exceeded.");
        }

        var spot = call["InstanceMarketOptions.MarketType"] == "spot";
        if (spot && SpotError is { } error)
        {
            throw new Ec2Error(error, $"There is no Spot capacity available that matches your request. ({error})");
        }

        var token = call["ClientToken"];
        var existing = token is null ? [] : _instances.Values.Where(i => i.ClientToken == token).ToList();
        if (existing.Count == 0)
        {
            var count = int.Parse(call["MaxCount"]!, CultureInfo.InvariantCulture);
            var minimum = int.Parse(call["MinCount"] ?? call["MaxCount"]!, CultureInfo.InvariantCulture);
            CheckVcpuQuota(call["InstanceType"] ?? "m1.small", count);
            var subnetId = call["NetworkInterface.1.SubnetId"] ?? call["SubnetId"] ?? Subnets.First(s => s.DefaultForAz).SubnetId;
            var subnet = Subnets.FirstOrDefault(s => s.SubnetId == subnetId) ?? throw new Ec2Error("InvalidSubnetID.NotFound", $"The subnet ID '{subnetId}' does not exist");
            count = TakeCapacity(call["InstanceType"] ?? "m1.small", subnet.Zone, spot, minimum, count);
            var groups = call.List("NetworkInterface.1.SecurityGroupId").Concat(call.List("SecurityGroupId")).ToList();
            foreach (var group in groups)
            {
                Group(group);
            }

            var image = Images.FirstOrDefault(i => i.ImageId == call["ImageId"]) ?? throw new Ec2Error("InvalidAMIID.NotFound", $"The image id '[{call["ImageId"]}]' does not exist");
            if (call["BlockDeviceMapping.1.DeviceName"] is { } device && device != FakeImage.RootDevice)
            {
                throw new Ec2Error("InvalidBlockDeviceMapping", $"The device '{device}' is not the root device of image {image.ImageId}; a volume there would be an extra disk");
            }

            if (call["BlockDeviceMapping.1.Ebs.VolumeSize"] is { } asked && int.Parse(asked, CultureInfo.InvariantCulture) < image.RootVolumeGiB)
            {
                throw new Ec2Error("InvalidBlockDeviceMapping", $"Volume of size {asked}GB is smaller than snapshot 'snap-{image.ImageId[4..]}', expect size >= {image.RootVolumeGiB}GB");
            }

            var profile = call["IamInstanceProfile.Name"] ?? call["IamInstanceProfile.Arn"]?.Split('/').Last();
            if (profile is not null && !InstanceProfiles.Contains(profile))
            {
                throw new Ec2Error("InvalidParameterValue", $"Value ({profile}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name");
            }
            // One launch time for the instances of one request, to the millisecond DescribeInstances tells.
            var now = DateTime.UtcNow;
            var launchTime = new DateTime(now.Ticks - now.Ticks % TimeSpan.TicksPerMillisecond, DateTimeKind.Utc);
            for (var n = 0; n < count; n++)
            {
                var address = Interlocked.Increment(ref s_nextAddress) % 240 + 10;
                var instance = new FakeInstance
                {
                    Id = $"i-{NextId()}",
                    ImageId = image.ImageId,
                    InstanceType = call["InstanceType"] ?? "m1.small",
                    SubnetId = subnet.SubnetId,
                    VpcId = subnet.VpcId,
                    Zone = subnet.Zone,
                    GroupIds = groups,
                    Tags = call.TagsFor("instance"),
                    ClientToken = token,
                    Spot = spot,
                    ShutdownBehavior = call["InstanceInitiatedShutdownBehavior"] ?? "stop",
                    HttpTokens = call["MetadataOptions.HttpTokens"],
                    UserData = call["UserData"] is { } data ? Encoding.UTF8.GetString(Convert.FromBase64String(data)) : string.Empty,
                    KeyName = call["KeyName"],
                    InstanceProfile = profile,
                    PrivateOnly = call["NetworkInterface.1.AssociatePublicIpAddress"] == "false",
                    RootVolume = call["BlockDeviceMapping.1.Ebs.VolumeSize"] is { } size
                        ? $"{size} GiB {call["BlockDeviceMapping.1.Ebs.VolumeType"]}{(call["BlockDeviceMapping.1.Ebs.Encrypted"] == "true" ? " encrypted" : string.Empty)}{(call["BlockDeviceMapping.1.Ebs.DeleteOnTermination"] == "true" ? " deleted on termination" : string.Empty)}"
                        : null,
                    LaunchTime = launchTime,
                    PrivateIp = $"172.31.0.{address}",
                    SandboxAddress = $"127.0.0.{address}",
                };
                _instances[instance.Id] = instance;
                existing.Add(instance);
                _background.Add(Task.Run(() => BootAsync(instance)));
            }
        }

        if (InternalErrorAfterLaunch > 0)
        {
            // EC2 launched them, and then its answer failed: the caller cannot tell whether anything started.
            InternalErrorAfterLaunch--;
            throw new Ec2Error("InternalError", "An internal error has occurred", status: 500);
        }

        return Response("RunInstances", E("reservationId", $"r-{NextId()}"), E("ownerId", "123456789012"), Set("instancesSet", existing.Select(InstanceXml)));
    }

    private XElement DescribeInstances(Ec2Call call)
    {
        var ids = call.List("InstanceId");
        var unknown = ids.Where(id => !_instances.TryGetValue(id, out var instance) || (NotFoundRightAfterLaunch && !instance.Described)).ToList();
        foreach (var id in ids.Where(_instances.ContainsKey))
        {
            _instances[id].Described = true;
        }

        if (unknown.Count > 0)
        {
            throw new Ec2Error("InvalidInstanceID.NotFound", unknown.Count == 1 ? $"The instance ID '{unknown[0]}' does not exist" : $"The instance IDs '{string.Join(", ", unknown)}' do not exist");
        }

        var matching = _instances.Values.Where(i => (ids.Count == 0 || ids.Contains(i.Id)) && Matches(call, f => f switch
        {
            "instance-state-name" => [i.State],
            "instance-id" => [i.Id],
            "client-token" => i.ClientToken is null ? [] : [i.ClientToken],
            _ => TagAttribute(f, i.Tags),
        })).ToList();
        var (page, next) = Paginate(call, matching);
        return Response("DescribeInstances",
            Set("reservationSet", page.Select(i => new XElement("x", E("reservationId", "r-" + i.Id[2..]), E("ownerId", "123456789012"), Set("instancesSet", [InstanceXml(i)])))),
            next is null ? null : E("nextToken", next));
    }

    private XElement TerminateInstances(Ec2Call call)
    {
        var ids = call.List("InstanceId");
        var unknown = ids.Where(id => !_instances.ContainsKey(id)).ToList();
        if (TerminateNotFoundTimes > 0)
        {
            TerminateNotFoundTimes--;
            unknown = [.. ids];
        }

        foreach (var id in ids.Where(id => TerminateUnknown.GetValueOrDefault(id) > 0 && !unknown.Contains(id)).ToList())
        {
            TerminateUnknown[id]--;
            unknown.Add(id);
        }

        if (unknown.Count > 0)
        {
            throw new Ec2Error("InvalidInstanceID.NotFound", $"The instance IDs '{string.Join(", ", unknown)}' do not exist");
        }

        var items = new List<XElement>();
        foreach (var instance in ids.Select(id => _instances[id]))
        {
            var previous = instance.State;
            if (previous is not ("terminated" or "shutting-down"))
            {
                instance.State = "shutting-down";
                instance.StateReason = "Client.UserInitiatedShutdown: User initiated shutdown";
                instance.TransitionedAt = DateTime.UtcNow;
                StopProcess(instance);
                _background.Add(FinishAsync(instance, "terminated"));
            }

            items.Add(new XElement("x", E("instanceId", instance.Id),
                E("currentState", new object[] { E("code", FakeInstance.StateCode(instance.State)), E("name", instance.State) }),
                E("previousState", new object[] { E("code", FakeInstance.StateCode(previous)), E("name", previous) })));
        }

        return Response("TerminateInstances", Set("instancesSet", items));
    }

    private XElement GetConsoleOutput(Ec2Call call)
    {
        var instance = _instances.TryGetValue(call["InstanceId"] ?? string.Empty, out var found) ? found : throw new Ec2Error("InvalidInstanceID.NotFound", $"The instance ID '{call["InstanceId"]}' does not exist");
        return Response("GetConsoleOutput", E("instanceId", instance.Id), E("timestamp", DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture)),
            E("output", Convert.ToBase64String(Encoding.UTF8.GetBytes(instance.Console))));
    }

    private XElement DescribeSpotPriceHistory(Ec2Call call)
        => Response("DescribeSpotPriceHistory", Set("spotPriceHistorySet", call.List("InstanceType").Select(type => new XElement("x",
            E("instanceType", type), E("productDescription", "Linux/UNIX"), E("spotPrice", SpotPrice),
            E("timestamp", DateTime.UtcNow.AddMinutes(-7).ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)),
            E("availabilityZone", call["AvailabilityZone"] ?? "us-east-1a")))), E("nextToken", string.Empty));

    private XElement InstanceXml(FakeInstance i) => new("x",
        E("instanceId", i.Id), E("imageId", i.ImageId),
        E("instanceState", new object[] { E("code", FakeInstance.StateCode(i.State)), E("name", i.State) }),
        E("privateDnsName", $"ip-{i.PrivateIp.Replace('.', '-')}.ec2.internal"), E("dnsName", i.PublicIp is null ? string.Empty : "ec2-fake.compute-1.amazonaws.com"),
        E("reason", i.TransitionReason), i.KeyName is null ? null : E("keyName", i.KeyName), E("amiLaunchIndex", 0),
        E("instanceType", i.InstanceType), E("launchTime", i.LaunchTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture)),
        E("placement", new object[] { E("availabilityZone", i.Zone), E("tenancy", "default") }),
        E("subnetId", i.SubnetId), E("vpcId", i.VpcId), E("privateIpAddress", i.PrivateOnly ? i.SandboxAddress : i.PrivateIp), i.PublicIp is null ? null : E("ipAddress", i.PublicIp),
        Set("groupSet", i.GroupIds.Select(g => new XElement("x", E("groupId", g), E("groupName", _groups.TryGetValue(g, out var group) ? group.Name : g)))),
        i.StateReason is null ? null : E("stateReason", new object[] { E("code", i.StateReason.Split(':')[0]), E("message", i.StateReason) }),
        E("architecture", Images.First(m => m.ImageId == i.ImageId).Architecture), E("rootDeviceType", "ebs"), E("virtualizationType", "hvm"),
        i.ClientToken is null ? null : E("clientToken", i.ClientToken), TagSet(i.Tags), i.Spot ? E("instanceLifecycle", "spot") : null,
        E("metadataOptions", new object[] { E("state", "applied"), E("httpTokens", i.HttpTokens ?? "optional"), E("httpEndpoint", "enabled") }));

    private async Task BootAsync(FakeInstance instance)
    {
        await Task.Delay(100);
        if (BootGate is { } gate)
        {
            try
            {
                // A test that failed before it opened its gate must not hold the endpoint's disposal.
                await gate(instance).WaitAsync(_disposing.Token);
            }
            catch (OperationCanceledException) when (_disposing.IsCancellationRequested)
            {
                return;
            }
        }

        if (Network is { } network && BootInstances)
        {
            (instance.Namespace, var address) = network.AddInstance();
            instance.SandboxAddress = address.ToString();
        }

        lock (_lock)
        {
            if (instance.State != "pending")
            {
                return;
            }

            instance.State = "running";
            instance.PublicIp = instance.PrivateOnly ? null : instance.SandboxAddress;
            if (BootInstances)
            {
                StartUserData(instance);
            }
        }
    }

    private void StartUserData(FakeInstance instance)
    {
        var sandbox = Path.Combine(SandboxRoot, instance.Id);
        var bin = _bin;
        var root = Directory.CreateDirectory(Path.Combine(sandbox, "opt", "coiled-remote")).FullName;
        var home = Directory.CreateDirectory(Path.Combine(sandbox, "home")).FullName;
        instance.Sandbox = sandbox;
        if (instance.InstanceType.StartsWith('g') || instance.InstanceType.StartsWith('p'))
        {
            // A GPU type: the sandbox's nvidia-smi finds one GPU.
            File.WriteAllText(Path.Combine(sandbox, "gpu"), "NVIDIA A10G");
        }


        var script = Path.Combine(sandbox, "user-data.sh");
        File.WriteAllText(script, instance.UserData);
        // The script leads a process group of its own (setsid), so that stopping the instance stops all it started,
        // even a process it forked a moment before.
        var start = new ProcessStartInfo(instance.Namespace is null ? "setsid" : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = sandbox,
        };
        foreach (var argument in (instance.Namespace is { } name ? new[] { "netns", "exec", name, "setsid", "bash" } : ["bash"]).Append(script))
        {
            start.ArgumentList.Add(argument);
        }

        // The image's PATH, without the folder of the .NET the tests run on; and none of its variables.
        var dotnet = Path.GetDirectoryName(Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "/usr/share/dotnet");
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':').Where(folder => folder != dotnet);
        start.Environment["PATH"] = string.Join(':', path.Prepend(bin));
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("DOTNET_", StringComparison.Ordinal) || k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["HOME"] = home;
        start.Environment["COILED_REMOTE_ROOT"] = root;
        start.Environment["COILED_REMOTE_LISTEN_ADDRESS"] = instance.SandboxAddress;
        start.Environment["COILED_REMOTE_INSTANCE_METADATA"] = Metadata.AddressFor(instance.Id).AbsoluteUri;
        start.Environment["COILED_REMOTE_SANDBOX"] = sandbox;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => instance.AppendConsole(e.Data);
        process.ErrorDataReceived += (_, e) => instance.AppendConsole(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        instance.Process = process;
        _background.Add(WatchUserDataAsync(instance, process));
    }

    private async Task WatchUserDataAsync(FakeInstance instance, Process process)
    {
        await process.WaitForExitAsync();
        var log = Path.Combine(instance.Sandbox!, "power.log");
        var poweredOff = File.Exists(log) && File.ReadAllLines(log).Any(l => l is "systemctl poweroff" or "poweroff" || l.StartsWith("shutdown -P now", StringComparison.Ordinal));
        lock (_lock)
        {
            if (!poweredOff || instance.State != "running")
            {
                return;
            }

            // An OS-initiated power-off: the shutdown behaviour decides between terminated and stopped.
            var terminate = instance.ShutdownBehavior == "terminate";
            instance.State = terminate ? "shutting-down" : "stopping";
            instance.StateReason = "Client.InstanceInitiatedShutdown: Instance initiated shutdown";
            instance.TransitionedAt = DateTime.UtcNow;
            _background.Add(FinishAsync(instance, terminate ? "terminated" : "stopped"));
        }
    }

    private async Task FinishAsync(FakeInstance instance, string state)
    {
        await Task.Delay(TerminationDelay);
        lock (_lock)
        {
            instance.State = state;
            instance.PublicIp = null;
        }
    }

    private static void StopProcess(FakeInstance instance)
    {
        if (instance.Process is not { } process)
        {
            return;
        }

        try
        {
            // The instance's process group: the script, the worker, its executors, whatever forked last.
            _ = Kill(-process.Id, 9);
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    [System.Runtime.InteropServices.DefaultDllImportSearchPaths(System.Runtime.InteropServices.DllImportSearchPath.SafeDirectories)]
    private static extern int Kill(int processGroup, int signal);

    /// <summary>
    /// The commands every sandbox has instead of the machine's: power-off stubs that record it, a `dotnet` that
    /// fails and records the attempt (nothing is installed), and an `nvidia-smi` that finds a GPU on GPU types only. Written once, when the endpoint starts: a script written
    /// just before it runs can fail with "text file busy" when another test forks meanwhile.
    /// </summary>
    private static string WriteStubs(string bin)
    {
        foreach (var command in new[] { "systemctl", "shutdown", "poweroff" })
        {
            WriteExecutable(Path.Combine(bin, command), $"#!/bin/bash\necho \"{command} $*\" >> \"$COILED_REMOTE_SANDBOX/power.log\"\n");
        }

        WriteExecutable(
            Path.Combine(bin, "nvidia-smi"),
            "#!/bin/bash\nif [ -f \"$COILED_REMOTE_SANDBOX/gpu\" ]; then echo \"GPU 0: $(cat \"$COILED_REMOTE_SANDBOX/gpu\") (UUID: GPU-00000000-fake)\"; exit 0; fi\n" +
            "echo \"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\" >&2\nexit 9\n");
        WriteExecutable(Path.Combine(bin, "dotnet"), "#!/bin/bash\necho \"dotnet $*\" >> \"$COILED_REMOTE_SANDBOX/dotnet.log\"\necho \"dotnet: not installed on this instance\" >&2\nexit 127\n");
        return bin;
    }

    private static void WriteExecutable(string path, string content)
    {
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private string NextId() => (Interlocked.Increment(ref _ids) * 2654435761L % 0xFFFFFFFFF).ToString("x9", CultureInfo.InvariantCulture) + "abcdef01";

    /// <summary>The access key id in a Signature Version 4 authorization header: <c>AWS4-HMAC-SHA256 Credential=AKID/date/region/ec2/aws4_request, ...</c>.</summary>
    [GeneratedRegex("^AWS4-HMAC-SHA256 Credential=([^/]+)/")]
    private static partial Regex SignedBy();

    private sealed class Ec2Error(string code, string message, int status = 400) : Exception(message)
    {
        public string Code { get; } = code;

        public int Status { get; } = status;
    }
}

public sealed record FakeImage(string ImageId, string Name, string Architecture, string CreationDate)
{
    /// <summary>The root device of every image, as Amazon Linux 2023's.</summary>
    public const string RootDevice = "/dev/xvda";

    /// <summary>The size of the image's root snapshot, which a root volume cannot be smaller than: 8 GiB for Amazon Linux 2023.</summary>
    public int RootVolumeGiB { get; init; } = 8;
}

public sealed record FakeSubnet(string SubnetId, string VpcId, string Zone, bool DefaultForAz);

public sealed record FakeGroup(string GroupId, string Name, string Description, string VpcId, IReadOnlyDictionary<string, string> Tags)
{
    public List<FakeRule> Ingress { get; } = [];
}

public sealed record FakeRule(string Protocol, int FromPort, int ToPort, IReadOnlyList<string> Ranges);
