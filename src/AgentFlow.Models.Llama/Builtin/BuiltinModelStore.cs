using AgentFlow.Models.Llama.Hosting;

namespace AgentFlow.Models.Llama.Builtin;

/// <summary>
/// Where the built-in tiny model files live (<c>&lt;data root&gt;/models</c>, see <see cref="DataDirectories"/>).
/// Files are written on first use, named after their options' hash, and published with an atomic rename so that
/// several processes may race to create the same file safely.
/// </summary>
public sealed class BuiltinModelStore
{
    /// <summary>Creates a store over <paramref name="directory"/>, or over the default folder when null.</summary>
    public BuiltinModelStore(string? directory = null)
    {
        Directory = Path.GetFullPath(directory ?? DefaultDirectory());
    }

    /// <summary>The folder holding the model files.</summary>
    public string Directory { get; }

    /// <summary>The default folder: <c>$AGENTFLOW_HOME/models</c>, <c>$XDG_DATA_HOME/agentflow/models</c> or <c>~/.local/share/agentflow/models</c>.</summary>
    public static string DefaultDirectory() => Path.Combine(DataDirectories.Root(), "models");

    /// <summary>The path the model for <paramref name="options"/> has (whether or not it exists yet).</summary>
    public string PathFor(TinyGgufOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Path.Combine(Directory, options.FileName());
    }

    /// <summary>Returns the model file's path, writing the file first when it is missing.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="IOException">The folder cannot be created or written.</exception>
    public string Ensure(TinyGgufOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var path = PathFor(options);
        if (File.Exists(path))
        {
            return path;
        }

        System.IO.Directory.CreateDirectory(Directory);
        var temp = Path.Combine(Directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                TinyGgufWriter.Write(fs, options);
                fs.Flush(flushToDisk: true);
            }

            // rename(2) is atomic: readers see either no file or the whole file. A racing writer produced the
            // same bytes, so replacing its file is harmless.
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
        }

        return path;
    }
}
