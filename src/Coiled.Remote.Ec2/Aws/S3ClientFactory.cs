using Amazon;
using Amazon.Runtime;
using Amazon.S3;

namespace Coiled.Remote.Ec2;

/// <summary>Builds the S3 client of the staging bucket from <see cref="Ec2Options"/>, with the EC2 client's credentials.</summary>
internal static class S3ClientFactory
{
    public static IAmazonS3 Create(Ec2Options options, AWSCredentials credentials, string region)
    {
        var config = new AmazonS3Config
        {
            RegionEndpoint = RegionEndpoint.GetBySystemName(region),

            // Checksums go in a header Coiled.Remote computes itself (SHA-256, which S3 verifies), never as a trailer
            // of a chunked upload, which S3-compatible stores do not all understand.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (options.S3ServiceUrl is { } url)
        {
            config.ServiceURL = url.AbsoluteUri;
            config.AuthenticationRegion = region;
            config.ForcePathStyle = true;
        }

        return new AmazonS3Client(credentials, config);
    }
}
