using Amazon;
using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The AWS account the credentials belong to (STS GetCallerIdentity, which needs no permission): the first check of a
/// start, so that credentials that do not work fail before anything is created, and the staging bucket's name.
/// </summary>
internal static class AccountIdentity
{
    public static async Task<string> AccountIdAsync(Ec2Options options, AWSCredentials credentials, string region, CancellationToken cancellationToken)
    {
        var config = new AmazonSecurityTokenServiceConfig { RegionEndpoint = RegionEndpoint.GetBySystemName(region) };
        if (options.ServiceUrl is { } url)
        {
            config.ServiceURL = url.AbsoluteUri;
            config.AuthenticationRegion = region;
        }

        using var sts = new AmazonSecurityTokenServiceClient(credentials, config);
        try
        {
            var identity = await sts.GetCallerIdentityAsync(new GetCallerIdentityRequest(), cancellationToken).ConfigureAwait(false);
            return identity.Account;
        }
        catch (AmazonServiceException ex) when (ex.ErrorCode is "InvalidClientTokenId" or "SignatureDoesNotMatch" or "ExpiredToken" or "AccessDenied")
        {
            throw new ClusterStartException(
                $"AWS refused the credentials ({ex.ErrorCode}: {ex.Message}). Nothing was started. {Ec2ClientFactory.CredentialsHelp}", ex);
        }
    }
}
