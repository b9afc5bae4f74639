namespace Coiled.Remote.Tests.Support;

/// <summary>
/// Tests that watch process-wide state (the console, whether any ActivityListener exists) run alone, so that no
/// other test writes or listens meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    public const string Name = "Alone";
}
