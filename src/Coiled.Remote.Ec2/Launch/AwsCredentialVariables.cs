using Amazon.Runtime;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The caller's current AWS credentials as the environment variables the AWS SDKs read, for
/// <see cref="Ec2Options.ForwardAwsCredentials"/>: sent to tasks over TLS, never written to user data.
/// </summary>
internal static class AwsCredentialVariables
{
    public static async Task<IReadOnlyDictionary<string, string>> ReadAsync(AWSCredentials source, string region)
    {
        var credentials = await source.GetCredentialsAsync().ConfigureAwait(false);
        var variables = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["AWS_ACCESS_KEY_ID"] = credentials.AccessKey,
            ["AWS_SECRET_ACCESS_KEY"] = credentials.SecretKey,
            ["AWS_REGION"] = region,
        };
        if (credentials.UseToken)
        {
            variables["AWS_SESSION_TOKEN"] = credentials.Token;
        }

        return variables;
    }
}
