using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Coiled.Remote.Security;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The bash script that cloud-init runs once, as root, when a worker instance first boots: it installs the ASP.NET
/// Core runtime and the worker daemon unless the image has them, writes the cluster's token and certificate readable
/// by root only, runs the worker, and powers the machine off when the worker exits. Instances are launched with
/// shutdown behaviour <c>terminate</c>, so powering off ends them.
/// </summary>
internal static partial class UserDataScript
{
    /// <summary>EC2 accepts at most 16 KB of user data before base64 encoding.</summary>
    public const int MaxBytes = 16 * 1024;

    /// <summary>The .NET channel the worker runs on.</summary>
    public const string DotnetChannel = "10.0";

    /// <summary>Where the script keeps the worker, its secrets and its cache on a real machine.</summary>
    public const string DefaultRoot = "/opt/coiled-remote";

    public sealed record Settings(
        string Token,
        byte[] CertificatePfx,
        int Port,
        string WorkerVersion,
        Uri WorkerPackageSource,
        TimeSpan IdleTimeout,
        TimeSpan NoClientTimeout,
        TimeSpan MaxLifetime)
    {
        /// <summary>How long the worker waits for its very first client; null for <see cref="NoClientTimeout"/>.</summary>
        public TimeSpan? FirstClientTimeout { get; init; }

        // The token and the certificate's private key are secrets: printing the settings says that they are set, never what they are.
        private bool PrintMembers(StringBuilder builder)
        {
            builder.Append(CultureInfo.InvariantCulture,
                $"Token = {Redacted.Text}, CertificatePfx = {Redacted.Text}, Port = {Port}, WorkerVersion = {WorkerVersion}, WorkerPackageSource = {WorkerPackageSource}, ");
            builder.Append(CultureInfo.InvariantCulture,
                $"IdleTimeout = {IdleTimeout}, NoClientTimeout = {NoClientTimeout}, MaxLifetime = {MaxLifetime}, FirstClientTimeout = {FirstClientTimeout}");
            return true;
        }
    }

    public static string Render(Settings settings)
    {
        if (!SafeText().IsMatch(settings.Token))
        {
            throw new ArgumentException("The cluster token may hold only letters, digits, '-' and '_'.", nameof(settings));
        }

        if (!SafeText().IsMatch(settings.WorkerVersion.Replace('.', '_').Replace('+', '_')))
        {
            throw new ArgumentException($"'{settings.WorkerVersion}' is not a package version.", nameof(settings));
        }

        var packageId = "coiled.remote";
        var version = settings.WorkerVersion.ToLowerInvariant();
        var packageUrl = new Uri(settings.WorkerPackageSource, $"{packageId}/{version}/{packageId}.{version}.nupkg").AbsoluteUri;
        if (packageUrl.Contains('\'', StringComparison.Ordinal))
        {
            throw new ArgumentException($"The worker package address {packageUrl} may not contain a quote.", nameof(settings));
        }

        var certificate = Convert.ToBase64String(settings.CertificatePfx, Base64FormattingOptions.InsertLineBreaks);
        var script = Template
            .Replace("@PORT@", settings.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@VERSION@", settings.WorkerVersion, StringComparison.Ordinal)
            .Replace("@PACKAGE_URL@", packageUrl, StringComparison.Ordinal)
            .Replace("@DOTNET_CHANNEL@", DotnetChannel, StringComparison.Ordinal)
            .Replace("@IDLE_TIMEOUT@", Seconds(settings.IdleTimeout), StringComparison.Ordinal)
            .Replace("@NO_CLIENT_TIMEOUT@", Seconds(settings.NoClientTimeout), StringComparison.Ordinal)
            .Replace("@FIRST_CLIENT_TIMEOUT@", Seconds(settings.FirstClientTimeout ?? settings.NoClientTimeout), StringComparison.Ordinal)
            .Replace("@MAX_LIFETIME_MINUTES@", Math.Max(1, (long)Math.Ceiling(settings.MaxLifetime.TotalMinutes)).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@ROOT@", DefaultRoot, StringComparison.Ordinal)
            .Replace("@TOKEN@", settings.Token, StringComparison.Ordinal)
            .Replace("@CERTIFICATE@", certificate.ReplaceLineEndings("\n"), StringComparison.Ordinal)
            .ReplaceLineEndings("\n");
        var bytes = Encoding.UTF8.GetByteCount(script);
        if (bytes > MaxBytes)
        {
            throw new InvalidOperationException($"The worker boot script is {bytes} bytes; EC2 accepts at most {MaxBytes} bytes of user data.");
        }

        return script;
    }

    /// <summary>The script as RunInstances takes it: base64 of its UTF-8 bytes (the SDK does not encode it).</summary>
    public static string Encode(string script) => Convert.ToBase64String(Encoding.UTF8.GetBytes(script));

    private static string Seconds(TimeSpan value)
        => value == Timeout.InfiniteTimeSpan ? "0" : Math.Max(1, (long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex SafeText();

    private const string Template = """
        #!/bin/bash
        # Coiled.Remote worker boot script, run once as root by cloud-init on first boot.
        # It installs the ASP.NET Core runtime and the worker unless the image has them, starts the worker
        # with this cluster's token and certificate, and powers the machine off when the worker exits.
        # The instance's shutdown behaviour is terminate, so powering off ends it and its billing.
        set -euo pipefail

        # COILED_REMOTE_ROOT and COILED_REMOTE_LISTEN_ADDRESS let tests run this script in a sandbox.
        root="${COILED_REMOTE_ROOT:-@ROOT@}"
        listen_address="${COILED_REMOTE_LISTEN_ADDRESS:-0.0.0.0}"
        port=@PORT@
        version='@VERSION@'
        package_url='@PACKAGE_URL@'
        dotnet_channel='@DOTNET_CHANNEL@'
        idle_timeout=@IDLE_TIMEOUT@
        no_client_timeout=@NO_CLIENT_TIMEOUT@
        first_client_timeout=@FIRST_CLIENT_TIMEOUT@
        max_lifetime_minutes=@MAX_LIFETIME_MINUTES@

        power_off() {
          echo "coiled-remote: powering off"
          systemctl poweroff || shutdown -P now
        }
        # Whatever ends this script (the worker's idle or no-client timeout, a failed install), the machine goes.
        trap power_off EXIT

        # A hard cap on the machine's life, whatever happens to the worker or its client.
        shutdown -P "+${max_lifetime_minutes}" "coiled-remote: maximum lifetime reached" || true

        export HOME="${HOME:-/root}"
        export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
        umask 077
        mkdir -p "$root"

        # The cluster's secrets, readable by root only.
        printf '%s\n' '@TOKEN@' > "$root/token"
        base64 -d > "$root/worker.pfx" <<'CERTIFICATE'
        @CERTIFICATE@
        CERTIFICATE
        chmod 0600 "$root/token" "$root/worker.pfx"

        if ! dotnet --list-runtimes 2>/dev/null | grep -q "^Microsoft.AspNetCore.App ${dotnet_channel}\."; then
          echo "coiled-remote: installing the ASP.NET Core ${dotnet_channel} runtime"
          if ! dnf install -y "aspnetcore-runtime-${dotnet_channel}"; then
            curl -fsSL --retry 5 -o "$root/dotnet-install.sh" https://dot.net/v1/dotnet-install.sh
            bash "$root/dotnet-install.sh" --channel "$dotnet_channel" --runtime aspnetcore --install-dir /usr/lib/dotnet
            ln -sf /usr/lib/dotnet/dotnet /usr/bin/dotnet
          fi
        fi

        worker_dir="$root/worker-$version"
        if [ ! -f "$worker_dir/coiled-remote-worker.dll" ]; then
          echo "coiled-remote: installing worker $version from $package_url"
          curl -fsSL --retry 5 -o "$root/coiled.remote.nupkg" "$package_url"
          rm -rf "$worker_dir.partial"
          python3 - "$root/coiled.remote.nupkg" "$worker_dir.partial" <<'PYTHON'
        import os, sys, zipfile
        package, target = sys.argv[1], sys.argv[2]
        prefix = "tools/worker/"
        with zipfile.ZipFile(package) as archive:
            for name in archive.namelist():
                if name.startswith(prefix) and not name.endswith("/"):
                    path = os.path.join(target, name[len(prefix):])
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    with archive.open(name) as source, open(path, "wb") as destination:
                        destination.write(source.read())
        PYTHON
          mv "$worker_dir.partial" "$worker_dir"
        fi

        echo "coiled-remote: starting worker $version on ${listen_address}:${port}"
        status=0
        dotnet "$worker_dir/coiled-remote-worker.dll" \
          --listen "${listen_address}:${port}" \
          --token-file "$root/token" \
          --cert "$root/worker.pfx" \
          --cache-dir "$root/cache" \
          --idle-timeout "$idle_timeout" \
          --no-client-timeout "$no_client_timeout" \
          --first-client-timeout "$first_client_timeout" || status=$?
        echo "coiled-remote: the worker exited with status $status"
        """;
}
