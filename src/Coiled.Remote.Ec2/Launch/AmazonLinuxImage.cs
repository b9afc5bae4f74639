using Amazon.EC2;
using Amazon.EC2.Model;

namespace Coiled.Remote.Ec2;

/// <summary>Finds the newest Amazon Linux 2023 image of an architecture.</summary>
internal static class AmazonLinuxImage
{
    /// <summary>The size of an Amazon Linux 2023 image's root volume, used unless <see cref="Ec2Options.RootVolumeGiB"/> is set.</summary>
    public const int RootVolumeGiB = 8;

    /// <summary>
    /// Standard AL2023 images are named <c>al2023-ami-2023.X.YYYYMMDD.N-kernel-K-ARCH</c>; the pattern leaves out the
    /// <c>al2023-ami-minimal-…</c> images, which lack tools the boot script uses.
    /// </summary>
    public static string NamePattern(string architecture) => $"al2023-ami-2023.*-kernel-*-{architecture}";

    /// <summary>The newest standard AL2023 image of <paramref name="architecture"/>: its id and its root device name.</summary>
    public static async Task<Image> FindNewestAsync(IAmazonEC2 client, string architecture, string region, CancellationToken cancellationToken)
    {
        var images = new List<Image>();
        string? next = null;
        do
        {
            var response = await client.DescribeImagesAsync(new DescribeImagesRequest
            {
                Owners = ["amazon"],
                Filters =
                [
                    new Filter("name", [NamePattern(architecture)]),
                    new Filter("architecture", [architecture]),
                    new Filter("state", ["available"]),
                    new Filter("virtualization-type", ["hvm"]),
                ],
                MaxResults = 1000,
                NextToken = next,
            }, cancellationToken).ConfigureAwait(false);
            images.AddRange(response.Images ?? []);
            next = response.NextToken;
        }
        while (!string.IsNullOrEmpty(next));

        // DescribeImages returns images in no order: the newest is found by creation date (ISO 8601, sorts as text).
        var newest = images.OrderByDescending(i => i.CreationDate, StringComparer.Ordinal).FirstOrDefault()
            ?? throw new ClusterStartException(
                $"No Amazon Linux 2023 image for {architecture} was found in {region} (DescribeImages, owner amazon, name {NamePattern(architecture)}). " +
                "Set Ec2Options.ImageId to an image of your choice.");
        return newest;
    }

    /// <summary>The size of the image's root snapshot (what its instances' root volumes hold, and their least size); 8 GiB when EC2 does not say.</summary>
    public static int RootVolumeGiBOf(Image image)
        => image.BlockDeviceMappings?.FirstOrDefault(m => m.DeviceName == image.RootDeviceName)?.Ebs?.VolumeSize is { } size and > 0 ? size : RootVolumeGiB;

    /// <summary>The image of id <paramref name="imageId"/>, for its root device and its size.</summary>
    public static async Task<Image> DescribeAsync(IAmazonEC2 client, string imageId, CancellationToken cancellationToken)
    {
        var response = await client.DescribeImagesAsync(new DescribeImagesRequest { ImageIds = [imageId] }, cancellationToken).ConfigureAwait(false);
        return response.Images?.FirstOrDefault()
            ?? throw new ClusterStartException($"The image {imageId} (Ec2Options.ImageId) was not found. Check its id and region, and that this account may launch it.");
    }
}
