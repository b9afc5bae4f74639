namespace Coiled.Remote.Benchmarks;

/// <summary>What each task of the load test does; the same for every item.</summary>
/// <param name="Folder">
/// A folder on this machine the workers share with the caller: each execution creates an empty file in its <c>runs</c>
/// folder, the first worker processes to create <c>heavy-0</c>, <c>heavy-1</c>, ... carry the large heap, and each
/// process appends its gen2 collections and its pauses of a second or more to <c>collections/PID.log</c>
/// (<see cref="CollectionEvent"/>).
/// </param>
/// <param name="HeavyWorkers">How many worker processes carry the large retained heap.</param>
/// <param name="HeavyBytes">The retained heap of a heavy worker process.</param>
/// <param name="RetainedBytes">The retained heap of every other worker process.</param>
/// <param name="ChurnSeconds">
/// How long each <see cref="LoadJobs.Churn"/> task churns: round after round, it builds and drops a graph of small
/// objects and replaces one chunk of the retained graph with another (so that retained objects die in gen2 and gen2
/// collections keep happening). A time rather than a count of rounds, so that the map lasts about as long on a crowded
/// machine as on a quiet one.
/// </param>
public sealed record LoadWork(string Folder, int HeavyWorkers, long HeavyBytes, long RetainedBytes, double ChurnSeconds);
