using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Coiled.Remote.Security;

namespace Coiled.Remote.Tests.Security;

/// <summary>
/// The cluster's certificate travels to EC2 workers as a PFX file. Windows and macOS hold an imported private key as
/// non-exportable, so the PFX must be the bytes the certificate was made from, not a second export.
/// </summary>
public sealed class ClusterCertificateTests
{
    [Fact]
    public void ExportPfx_CalledTwice_GivesTheSameBytes_WhichLoadAsTheCertificateWithItsPrivateKey()
    {
        using var certificate = ClusterCertificate.Create("export-test", TimeSpan.FromHours(1));

        var first = certificate.ExportPfx();
        var second = certificate.ExportPfx();

        second.Should().Equal(first);
        using var loaded = X509CertificateLoader.LoadPkcs12(first, password: null);
        loaded.HasPrivateKey.Should().BeTrue();
        Convert.ToHexStringLower(loaded.GetCertHash(HashAlgorithmName.SHA256)).Should().Be(certificate.Thumbprint);
        loaded.Subject.Should().Be("CN=coiled-remote export-test");
    }

    [Fact]
    public void ExportPfx_ChangingTheReturnedBytes_LeavesTheNextExportWhole()
    {
        using var certificate = ClusterCertificate.Create("copy-test", TimeSpan.FromHours(1));
        var first = certificate.ExportPfx();
        var original = (byte[])first.Clone();

        Array.Clear(first);

        certificate.ExportPfx().Should().Equal(original);
    }
}
