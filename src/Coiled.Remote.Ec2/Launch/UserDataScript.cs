using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Coiled.Remote.Security;

namespace Coiled.Remote.Ec2;

/// <summary>
/// The bash script that cloud-init runs once, as root, when a worker instance first boots: it fetches the cluster's
/// secrets and the self-contained worker (the .NET runtime inside) from presigned S3 addresses, so that the image needs
/// neither .NET nor a package feed, checks the worker's SHA-256, runs it, and powers the machine off when it exits.
/// Instances are launched with shutdown behaviour <c>terminate</c>, so powering off ends them. The script holds no
/// secret: the secrets' address expires within minutes, and the caller deletes them once its workers connected.
/// </summary>
internal static partial class UserDataScript
{
    /// <summary>EC2 accepts at most 16 KB of user data before base64 encoding.</summary>
    public const int MaxBytes = 16 * 1024;

    /// <summary>Where the script keeps the worker, its secrets and its cache on a real machine.</summary>
    public const string DefaultRoot = "/opt/coiled-remote";

    /// <summary>What the script is made of; none of it is secret.</summary>
    /// <param name="Port">The worker's one port.</param>
    /// <param name="WorkerUrl">A presigned GET address of the self-contained worker's zip.</param>
    /// <param name="WorkerSha256">The zip's SHA-256, lowercase hex, which the script checks.</param>
    /// <param name="SecretsUrl">A presigned GET address, valid for minutes, of the token and the certificate.</param>
    /// <param name="IdleTimeout">The worker stops after this long without work.</param>
    /// <param name="NoClientTimeout">The worker stops after this long without a client.</param>
    /// <param name="MaxLifetime">The machine powers off after this long whatever happens.</param>
    public sealed record Settings(
        int Port,
        Uri WorkerUrl,
        string WorkerSha256,
        Uri SecretsUrl,
        TimeSpan IdleTimeout,
        TimeSpan NoClientTimeout,
        TimeSpan MaxLifetime)
    {
        /// <summary>How long the worker waits for its very first client; null for <see cref="NoClientTimeout"/>.</summary>
        public TimeSpan? FirstClientTimeout { get; init; }

        /// <summary>
        /// The instance metadata service the worker polls for a spot interruption notice and a rebalance
        /// recommendation: EC2's own, on every instance.
        /// </summary>
        public Uri InstanceMetadata { get; init; } = new("http://169.254.169.254");

        // A presigned address lets whoever holds it read the object: printing the settings shows where, never the signature.
        private bool PrintMembers(StringBuilder builder)
        {
            builder.Append(CultureInfo.InvariantCulture,
                $"Port = {Port}, WorkerUrl = {WorkerUrl.GetLeftPart(UriPartial.Path)}?{Redacted.Text}, WorkerSha256 = {WorkerSha256}, ");
            builder.Append(CultureInfo.InvariantCulture,
                $"SecretsUrl = {SecretsUrl.GetLeftPart(UriPartial.Path)}?{Redacted.Text}, IdleTimeout = {IdleTimeout}, NoClientTimeout = {NoClientTimeout}, MaxLifetime = {MaxLifetime}, ");
            builder.Append(CultureInfo.InvariantCulture, $"FirstClientTimeout = {FirstClientTimeout}, InstanceMetadata = {InstanceMetadata}");
            return true;
        }
    }

    /// <summary>The boot secrets object the script fetches: the token on the first line, the certificate (PKCS#12, base64) after it.</summary>
    public static byte[] Secrets(string token, byte[] certificatePfx)
    {
        if (!SafeText().IsMatch(token))
        {
            throw new ArgumentException("The cluster token may hold only letters, digits, '-' and '_'.", nameof(token));
        }

        return Encoding.ASCII.GetBytes(token + "\n" + Convert.ToBase64String(certificatePfx) + "\n");
    }

    public static string Render(Settings settings)
    {
        if (!Sha256Hex().IsMatch(settings.WorkerSha256))
        {
            throw new ArgumentException($"'{settings.WorkerSha256}' is not a SHA-256 in lowercase hex.", nameof(settings));
        }

        var script = Template
            .Replace("@PORT@", settings.Port.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@WORKER_URL@", Quotable(settings.WorkerUrl), StringComparison.Ordinal)
            .Replace("@WORKER_SHA256@", settings.WorkerSha256, StringComparison.Ordinal)
            .Replace("@SECRETS_URL@", Quotable(settings.SecretsUrl), StringComparison.Ordinal)
            .Replace("@IDLE_TIMEOUT@", Seconds(settings.IdleTimeout), StringComparison.Ordinal)
            .Replace("@NO_CLIENT_TIMEOUT@", Seconds(settings.NoClientTimeout), StringComparison.Ordinal)
            .Replace("@FIRST_CLIENT_TIMEOUT@", Seconds(settings.FirstClientTimeout ?? settings.NoClientTimeout), StringComparison.Ordinal)
            .Replace("@MAX_LIFETIME_MINUTES@", Math.Max(1, (long)Math.Ceiling(settings.MaxLifetime.TotalMinutes)).ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal)
            .Replace("@ROOT@", DefaultRoot, StringComparison.Ordinal)
            .Replace("@INSTANCE_METADATA@", Quotable(settings.InstanceMetadata), StringComparison.Ordinal)
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

    /// <summary>An address as the script quotes it: between single quotes, which it may not contain.</summary>
    private static string Quotable(Uri address)
    {
        var text = address.AbsoluteUri;
        if (text.Contains('\'', StringComparison.Ordinal) || address.Scheme is not ("https" or "http"))
        {
            throw new ArgumentException($"The address {address.GetLeftPart(UriPartial.Path)} cannot go into the boot script: it must be http(s) and hold no quote.", nameof(address));
        }

        return text;
    }

    private static string Seconds(TimeSpan value)
        => value == Timeout.InfiniteTimeSpan ? "0" : Math.Max(1, (long)value.TotalSeconds).ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^[A-Za-z0-9_-]+$")]
    private static partial Regex SafeText();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex Sha256Hex();

    private const string Template = """
        #!/bin/bash
        # Coiled.Remote worker boot script, run once as root by cloud-init on first boot.
        # It fetches the cluster's secrets and the self-contained worker (the .NET runtime inside) from presigned S3
        # addresses, checks the worker's SHA-256, starts it, and powers the machine off when it exits. Nothing is
        # installed from a package feed. The instance's shutdown behaviour is terminate, so powering off ends it and its billing.
        set -euo pipefail

        # COILED_REMOTE_ROOT, COILED_REMOTE_LISTEN_ADDRESS and COILED_REMOTE_INSTANCE_METADATA let tests run this script in a sandbox.
        root="${COILED_REMOTE_ROOT:-@ROOT@}"
        listen_address="${COILED_REMOTE_LISTEN_ADDRESS:-0.0.0.0}"
        # IMDSv2, where the worker reads a spot interruption notice (instances are launched with HttpTokens required).
        instance_metadata="${COILED_REMOTE_INSTANCE_METADATA:-@INSTANCE_METADATA@}"
        port=@PORT@
        worker_url='@WORKER_URL@'
        worker_sha256='@WORKER_SHA256@'
        secrets_url='@SECRETS_URL@'
        idle_timeout=@IDLE_TIMEOUT@
        no_client_timeout=@NO_CLIENT_TIMEOUT@
        first_client_timeout=@FIRST_CLIENT_TIMEOUT@
        max_lifetime_minutes=@MAX_LIFETIME_MINUTES@

        power_off() {
          echo "coiled-remote: powering off"
          systemctl poweroff || shutdown -P now
        }
        # Whatever ends this script (the worker's idle or no-client timeout, a failed download), the machine goes.
        trap power_off EXIT

        # A hard cap on the machine's life, whatever happens to the worker or its client.
        shutdown -P "+${max_lifetime_minutes}" "coiled-remote: maximum lifetime reached" || true

        export HOME="${HOME:-/root}"
        umask 077
        mkdir -p "$root"

        fetch() {
          curl -fsS --retry 5 --retry-all-errors --connect-timeout 10 -o "$2" "$1"
        }

        # The cluster's token and certificate, readable by root only. Their address expires within minutes, and the
        # caller deletes them once its workers have connected.
        fetch "$secrets_url" "$root/secrets"
        head -n 1 "$root/secrets" > "$root/token"
        tail -n +2 "$root/secrets" | base64 -d > "$root/worker.pfx"
        rm -f "$root/secrets"
        chmod 0600 "$root/token" "$root/worker.pfx"

        worker_dir="$root/worker-$worker_sha256"
        if [ ! -x "$worker_dir/coiled-remote-worker" ]; then
          echo "coiled-remote: fetching the worker ($worker_sha256)"
          fetch "$worker_url" "$root/worker.zip"
          echo "$worker_sha256  $root/worker.zip" | sha256sum -c --quiet -
          rm -rf "$worker_dir.partial"
          python3 - "$root/worker.zip" "$worker_dir.partial" <<'PYTHON'
        import os, sys, zipfile
        package, target = sys.argv[1], sys.argv[2]
        with zipfile.ZipFile(package) as archive:
            for entry in archive.infolist():
                path = archive.extract(entry, target)
                mode = (entry.external_attr >> 16) & 0o777
                if mode:
                    os.chmod(path, mode)
        PYTHON
          chmod 0755 "$worker_dir.partial/coiled-remote-worker"
          mv "$worker_dir.partial" "$worker_dir"
          rm -f "$root/worker.zip"
        fi

        if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >"$root/gpus" 2>&1; then
          sed 's/^/coiled-remote: gpu: /' "$root/gpus"
        fi

        echo "coiled-remote: starting the worker on ${listen_address}:${port}"
        status=0
        "$worker_dir/coiled-remote-worker" \
          --listen "${listen_address}:${port}" \
          --token-file "$root/token" \
          --cert "$root/worker.pfx" \
          --cache-dir "$root/cache" \
          --idle-timeout "$idle_timeout" \
          --no-client-timeout "$no_client_timeout" \
          --first-client-timeout "$first_client_timeout" \
          --instance-metadata "$instance_metadata" || status=$?
        echo "coiled-remote: the worker exited with status $status"
        """;
}
