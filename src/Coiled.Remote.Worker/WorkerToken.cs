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
            // Unbuffered, so nothing after the first line is taken from the stream --exit-with-stdin then watches.
            using var stdin = Console.OpenStandardInput(bufferSize: 0);
            text = FirstLine(stdin);
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

                // A pipe (such as --token-file <(echo $TOKEN)) may stay open after the line: read up to its end, never more.
                using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0);
                text = FirstLine(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return (null, $"cannot read the token file {path}: {ex.Message}");
            }
        }

        var token = text?.Trim() ?? string.Empty;
        if (token.Any(char.IsControl))
        {
            var source = options.TokenFromStdin ? "standard input" : $"the token file {options.TokenFile}";
            return (null, $"the first line of {source} holds control characters, so it is no token; give the token as one line of text.");
        }

        if (token.Length < MinimumLength)
        {
            return (null, $"the token must be at least {MinimumLength} characters; use a long random string.");
        }

        return System.Text.Encoding.UTF8.GetByteCount(token) > MaximumLength
            ? (null, $"the token is longer than {MaximumLength} bytes; use a shorter random string.")
            : (token, null);
    }

    /// <summary>
    /// The first line of <paramref name="stream"/>, read a byte at a time up to its newline or end, and no further than a
    /// token can be long: an endless source (/dev/zero, a pipe whose writer stays open) must neither be waited for to
    /// its end nor held in memory. Null when the stream is empty.
    /// </summary>
    internal static string? FirstLine(Stream stream)
    {
        var line = new byte[MaximumLength + 2];
        var length = 0;
        while (length < line.Length)
        {
            var read = stream.Read(line, length, 1);
            if (read == 0)
            {
                if (length == 0)
                {
                    return null;
                }

                break;
            }

            if (line[length] == (byte)'\n')
            {
                break;
            }

            length++;
        }

        return System.Text.Encoding.UTF8.GetString(line, 0, length);
    }
}
