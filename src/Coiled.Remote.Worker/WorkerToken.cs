namespace Coiled.Remote.Worker;

/// <summary>Reads the cluster token the worker daemon was given, from its file or standard input.</summary>
internal static class WorkerToken
{
    private const int MinimumLength = 16;

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
                text = File.ReadAllText(path);
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
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot read the token file {path}: {ex.Message}");
            }
        }

        var token = text?.Trim() ?? string.Empty;
        return token.Length < MinimumLength
            ? (null, $"the token must be at least {MinimumLength} characters; use a long random string.")
            : (token, null);
    }
}
