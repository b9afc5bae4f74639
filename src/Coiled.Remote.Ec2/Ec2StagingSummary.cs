namespace Coiled.Remote.Ec2;

/// <summary>
/// A region's staging bucket, where clusters stage the self-contained worker, the application's files and, while
/// instances boot, their secrets. Every object in it expires a day after it was written.
/// </summary>
/// <param name="Bucket">The bucket's name, <c>coiled-remote-staging-ACCOUNT-REGION</c>.</param>
/// <param name="Objects">Objects in it now.</param>
/// <param name="Bytes">Their total size.</param>
public sealed record Ec2StagingSummary(string Bucket, int Objects, long Bytes);
