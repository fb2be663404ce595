
namespace AgentFlow.Models.Onnx.Tiny;

/// <summary>
/// Where the built-in tiny ONNX model folders live (<c>&lt;data root&gt;/models</c>, beside the built-in GGUF files).
/// Folders are written on first use, named after their options' hash, and published with an atomic rename so that
/// several processes may race to create the same folder safely.
/// </summary>
public sealed class TinyOnnxStore
{
    /// <summary>Creates a store over <paramref name="directory"/>, or over the default folder when null.</summary>
    public TinyOnnxStore(string? directory = null)
    {
        Directory = Path.GetFullPath(directory ?? DefaultDirectory());
    }

    /// <summary>The folder holding the model folders.</summary>
    public string Directory { get; }

    /// <summary>The default folder: <c>$AGENTFLOW_HOME/models</c>, <c>$XDG_DATA_HOME/agentflow/models</c> or <c>~/.local/share/agentflow/models</c>.</summary>
    public static string DefaultDirectory() => Path.Combine(DataDirectories.Root(), "models");

    /// <summary>The folder the model for <paramref name="options"/> has (whether or not it exists yet).</summary>
    public string PathFor(TinyOnnxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Path.Combine(Directory, options.FolderName());
    }

    /// <summary>Returns the model folder, writing it first when it is missing.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range.</exception>
    /// <exception cref="IOException">The folder cannot be created or written.</exception>
    public string Ensure(TinyOnnxOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var path = PathFor(options);
        if (System.IO.Directory.Exists(path))
        {
            return path;
        }

        System.IO.Directory.CreateDirectory(Directory);
        var temp = Path.Combine(Directory, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            TinyOnnxWriter.Write(temp, options);
            try
            {
                // rename(2) of a folder is atomic: readers see no folder or the whole folder.
                System.IO.Directory.Move(temp, path);
            }
            catch (IOException) when (System.IO.Directory.Exists(path))
            {
                // A racing writer published the same bytes first.
            }
        }
        finally
        {
            if (System.IO.Directory.Exists(temp))
            {
                System.IO.Directory.Delete(temp, recursive: true);
            }
        }

        return path;
    }
}
