namespace Coiled.Remote.Worker;

/// <summary>Reads the cluster token the worker daemon was given, from its file or standard input.</summary>
internal static class WorkerToken
{
    private const int MinimumLength = 16;

    /// <summary>Longest token: what the bulk-data connection's opening carries (BulkFrame.MaxTokenBytes).</summary>
    private const int MaximumLength = Coiled.Remote.Transport.BulkFrame.MaxTokenBytes;

    private const UnixFileMode OthersMayAccess =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    /// <summary>The token, or null and a one-line reason that says what to do.</summary>
    /// <param name="options">The command line.</param>
    /// <param name="warnings">Where a token file others can read is reported when that is allowed.</param>
    public static (string? Token, string? Error) Read(WorkerCommandLine options, TextWriter warnings)
    {
        string? text;
        if (options.TokenFromStdin)
        {
            text = Console.In.ReadLine();
        }
        else
        {
            var path = options.TokenFile!;
            try
            {
                if (Directory.Exists(path))
                {
                    return (null, $"cannot read the token file {path}: it is a folder; give the file that holds the token.");
                }

                // The mode first: a file others can read is refused before anything is read from it.
                if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OthersMayAccess) != 0)
                {
                    var mode = Convert.ToString((int)File.GetUnixFileMode(path), 8).PadLeft(4, '0');
                    var exposed = $"the token file {path} can be read or written by other users (mode {mode})";
                    if (!options.AllowInsecureTokenFile)
                    {
                        return (null, $"{exposed}; run 'chmod 600 {path}', or pass --allow-insecure-token-file to accept it.");
                    }

                    warnings.WriteLine($"coiled-remote-worker: warning: {exposed}; accepted because of --allow-insecure-token-file.");
                }

                // The first line, read no further than a token can be long (a device or a huge file must not be read whole).
                using var reader = new StreamReader(path);
                var buffer = new char[MaximumLength + 2];
                var read = reader.ReadBlock(buffer, 0, buffer.Length);
                text = new string(buffer, 0, read).Split('\n')[0];
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot read the token file {path}: {ex.Message}");
            }
        }

        var token = text?.Trim() ?? string.Empty;
        if (token.Length < MinimumLength)
        {
            return (null, $"the token must be at least {MinimumLength} characters; use a long random string.");
        }

        return System.Text.Encoding.UTF8.GetByteCount(token) > MaximumLength
            ? (null, $"the token is longer than {MaximumLength} bytes; use a shorter random string.")
            : (token, null);
    }
}
