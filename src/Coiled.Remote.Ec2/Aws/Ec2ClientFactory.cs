using Amazon;
using Amazon.EC2;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;

namespace Coiled.Remote.Ec2;

/// <summary>Builds the EC2 client from <see cref="Ec2Options"/>, failing early and clearly when AWS is not configured.</summary>
internal static class Ec2ClientFactory
{
    public const string CredentialsHelp =
        "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE " +
        "for a profile in ~/.aws/config (`aws configure`, `aws sso login`), or pass Ec2Options.Credentials.";

    public static async Task<(IAmazonEC2 Client, AWSCredentials Credentials, string Region)> CreateAsync(Ec2Options options, CancellationToken cancellationToken)
    {
        var config = new AmazonEC2Config();
        if (options.Region is { Length: > 0 } region)
        {
            // Checked before GetBySystemName, which makes up an endpoint for any name it is given.
            if (options.ServiceUrl is null && !RegionEndpoint.EnumerableAllRegions.Any(r => r.SystemName == region))
            {
                throw new ClusterStartException(
                    $"'{region}' is not an AWS region (e.g. us-east-1, eu-west-1). Set Ec2Options.Region or AWS_REGION to one; nothing was started.");
            }

            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }

        if (options.ServiceUrl is not null)
        {
            config.ServiceURL = options.ServiceUrl.AbsoluteUri;
            config.AuthenticationRegion = options.Region ?? config.RegionEndpoint?.SystemName;
        }

        var resolvedRegion = options.Region ?? config.RegionEndpoint?.SystemName;
        if (resolvedRegion is null)
        {
            throw new ClusterStartException(
                "No AWS region is configured: set Ec2Options.Region (e.g. \"us-east-1\"), the AWS_REGION environment variable, or a region in your AWS profile.");
        }

        AWSCredentials credentials;
        try
        {
            credentials = options.Credentials ?? await DefaultAWSCredentialsIdentityResolver.GetCredentialsAsync(config).ConfigureAwait(false);
            await credentials.GetCredentialsAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonClientException ex)
        {
            throw new ClusterStartException($"No usable AWS credentials were found ({ex.Message}). {CredentialsHelp}", ex);
        }

        return (new AmazonEC2Client(credentials, config), credentials, resolvedRegion);
    }
}
