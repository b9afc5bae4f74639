// Coiled.Remote.Benchmarks: the figures of the performance table, measured on local worker processes.
// dotnet run -c Release --project tests/Coiled.Remote.Benchmarks -- [--quick] [--json PATH] [--only SECTION,...]
// The full run ends with "load" (16 workers beside two busy-looping processes, two of them growing 2.5 GiB heaps, then
// a MapAsync of about a minute): it adds three to five minutes on a 2-core machine. --quick leaves it out unless
// --only load asks for it. "executor" follows it: new builds, executor deaths and the memory of 50 builds on one running daemon;
// then "ec2sim": a simulated EC2 start of 16 workers (node and s3rver needed: eng/install-test-tools.sh).
using System.Globalization;
using Coiled.Remote.Benchmarks;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

if (args.Length > 0 && args[0] == WarmAttachBench.Mode)
{
    return await WarmAttachBench.ChildAsync(args);
}

if (args.Length > 0 && args[0] == TransportFloorChild.Mode)
{
    return await TransportFloorChild.RunAsync(args);
}

if (args.Length > 0 && args[0] == ResyncChild.Mode)
{
    return await ResyncChild.RunAsync(args);
}

var quick = args.Contains("--quick");
string? jsonPath = null;
var only = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
const string Usage = "Usage: [--quick] [--json PATH] [--only SECTION,...]";
for (var i = 0; i < args.Length; i++)
{
    if (args[i] == "--json")
    {
        if (i + 1 >= args.Length)
        {
            Console.Error.WriteLine("--json needs a path: --json results.json");
            return 2;
        }

        jsonPath = args[++i];
    }
    else if (args[i] == "--only")
    {
        var names = i + 1 < args.Length ? args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        var unknown = names.Where(n => !Suite.Sections.Contains(n, StringComparer.OrdinalIgnoreCase)).ToList();
        if (names.Length == 0 || unknown.Count > 0)
        {
            Console.Error.WriteLine($"--only takes a comma-separated list of {string.Join(", ", Suite.Sections)}; got '{string.Join(",", unknown)}'.");
            return 2;
        }

        only.UnionWith(names);
    }
    else if (args[i] is not "--quick")
    {
        Console.Error.WriteLine($"Unknown argument '{args[i]}'. {Usage}");
        return 2;
    }
}

#if DEBUG
Console.WriteLine("WARNING: a Debug build; figures are only meaningful with -c Release.");
#endif

var suite = new Suite(quick, only);
var ok = await suite.RunAsync();
suite.PrintTable();
if (jsonPath is not null)
{
    suite.WriteJson(jsonPath);
    Console.WriteLine($"Wrote {Path.GetFullPath(jsonPath)}");
}

return ok ? 0 : 1;
