namespace Coiled.Remote.Ec2;

/// <summary>
/// The instances one launch started, as EC2 names them: its capacity hunt adds them (from the background, while the
/// rest is asked for), and its boot watch and its cleanup read them.
/// </summary>
internal sealed class LaunchedIds
{
    private readonly List<string> _ids = [];

    public void Add(IReadOnlyList<string> ids)
    {
        lock (_ids)
        {
            _ids.AddRange(ids);
        }
    }

    public IReadOnlyList<string> Snapshot()
    {
        lock (_ids)
        {
            return [.. _ids];
        }
    }
}
