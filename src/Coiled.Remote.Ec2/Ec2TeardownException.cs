namespace Coiled.Remote.Ec2;

/// <summary>
/// Some of what an EC2 cluster created could not be removed; the message names what is left and how to remove it
/// (<c>coiled-remote ec2 cleanup</c>).
/// </summary>
public sealed class Ec2TeardownException : Exception
{
    /// <summary>Creates the exception.</summary>
    public Ec2TeardownException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }
}
