using Coiled.Remote.Ec2.Simulation;

namespace Coiled.Remote.Ec2.Tests;

/// <summary>A fact that needs the local S3 endpoint: skipped with the reason without node and s3rver, except under CI.</summary>
public sealed class LocalS3FactAttribute : FactAttribute
{
    public LocalS3FactAttribute()
    {
        if (S3rver.ModuleDirectory() is null && !ToolFactAttribute.IsCi)
        {
            Skip = S3rver.Missing;
        }
    }
}
