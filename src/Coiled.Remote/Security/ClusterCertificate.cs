using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Coiled.Remote.Security;

/// <summary>
/// A self-signed TLS certificate made for one cluster. Workers serve it; the client trusts exactly this certificate,
/// by its SHA-256 thumbprint, and nothing else, so no certificate authority is involved.
/// </summary>
internal sealed class ClusterCertificate : IDisposable
{
    private readonly byte[] _pfx;

    private ClusterCertificate(X509Certificate2 certificate, byte[] pfx)
    {
        Certificate = certificate;
        _pfx = pfx;
        Thumbprint = Convert.ToHexStringLower(certificate.GetCertHash(HashAlgorithmName.SHA256));
    }

    /// <summary>The certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Lower-case hex SHA-256 of the certificate, which clients pin.</summary>
    public string Thumbprint { get; }

    /// <summary>Creates a certificate valid for <paramref name="lifetime"/> (ECDSA P-256).</summary>
    public static ClusterCertificate Create(string clusterName, TimeSpan lifetime)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=coiled-remote {clusterName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        var now = DateTimeOffset.UtcNow;
        using var created = request.CreateSelfSigned(now.AddMinutes(-5), now + lifetime);

        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform. The bytes are kept:
        // the loaded key is not exportable on Windows and macOS, so exporting it again would fail there.
        var pfx = created.Export(X509ContentType.Pkcs12);
        return new ClusterCertificate(X509CertificateLoader.LoadPkcs12(pfx, password: null), pfx);
    }

    /// <summary>
    /// The certificate and key as a PKCS#12 (PFX) file without password, for <c>coiled-remote-worker --cert</c>: the
    /// bytes it was made from, so that no platform is asked to export a private key it holds as non-exportable.
    /// </summary>
    public byte[] ExportPfx() => (byte[])_pfx.Clone();

    /// <summary>Whether <paramref name="presented"/> is the certificate with <paramref name="thumbprint"/>.</summary>
    public static bool Matches(X509Certificate? presented, string thumbprint)
    {
        if (presented is null)
        {
            return false;
        }

        var actual = presented is X509Certificate2 certificate
            ? certificate.GetCertHash(HashAlgorithmName.SHA256)
            : SHA256.HashData(presented.GetRawCertData());
        return CryptographicOperations.FixedTimeEquals(actual, Convert.FromHexString(thumbprint));
    }

    public void Dispose() => Certificate.Dispose();
}
