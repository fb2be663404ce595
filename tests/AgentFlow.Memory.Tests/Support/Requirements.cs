using System.Diagnostics;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace AgentFlow.Memory.Tests.Support;

/// <summary>Redis for the tests: the server AGENTFLOW_TEST_REDIS names (scripts/services.sh starts one on 127.0.0.1:6379).</summary>
public static class TestRedis
{
    public const string Variable = "AGENTFLOW_TEST_REDIS";

    public static string? Connection =>
        Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value.Trim() : null;

    public static string SkipReason => $"needs a Redis server: set {Variable}=127.0.0.1:6379 (scripts/services.sh up starts one)";

    /// <summary>The redis-server program, for the test that restarts a private server; null when not installed.</summary>
    public static string? ServerProgram => ProgramFactAttribute.Find("redis-server");
}

/// <summary>Marks a test class whose tests (inherited ones included) need the Redis server named by AGENTFLOW_TEST_REDIS.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false, Inherited = false)]
public sealed class RequiresRedisAttribute : Attribute;

/// <summary>
/// A fact of the shared store contract: run for every store, reported as skipped for a class marked
/// <see cref="RequiresRedisAttribute"/> when no Redis is configured (xunit 2 decides skipping per method at discovery,
/// so the decision looks at the concrete test class).
/// </summary>
[XunitTestCaseDiscoverer("AgentFlow.Memory.Tests.Support.StoreFactDiscoverer", "AgentFlow.Memory.Tests")]
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>A fact that needs the Redis server named by AGENTFLOW_TEST_REDIS; otherwise reported as skipped.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (TestRedis.Connection is null)
        {
            Skip = TestRedis.SkipReason;
        }
    }
}

/// <summary>A fact that starts its own redis-server (installed on PATH); otherwise reported as skipped.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class RedisServerProgramFactAttribute : FactAttribute
{
    public RedisServerProgramFactAttribute()
    {
        if (TestRedis.ServerProgram is null)
        {
            Skip = "needs the redis-server program on PATH (scripts/services.sh up installs it)";
        }
    }
}

/// <summary>A fact that needs a program on PATH (e.g. python3 for a second process); otherwise reported as skipped.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class ProgramFactAttribute : FactAttribute
{
    public ProgramFactAttribute(string program)
    {
        if (Find(program) is null)
        {
            Skip = $"needs {program} on PATH";
        }
    }

    public static string? Find(string program)
    {
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(folder, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}

public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        [new StoreTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
}

/// <summary>A test case whose skip reason depends on the concrete class's requirements (recomputed after deserialization).</summary>
public sealed class StoreTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes", error: true)]
    public StoreTestCase()
    {
    }

    public StoreTestCase(IMessageSink sink, TestMethodDisplay display, TestMethodDisplayOptions options, ITestMethod testMethod)
        : base(sink, display, options, testMethod)
    {
    }

    protected override string GetSkipReason(IAttributeInfo factAttribute)
    {
        var needsRedis = TestMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresRedisAttribute).AssemblyQualifiedName).Any();
        return needsRedis && TestRedis.Connection is null ? TestRedis.SkipReason : base.GetSkipReason(factAttribute);
    }
}

/// <summary>A temporary folder removed on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "agentflow-memory-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A redis-server child process on a free loopback port, without persistence; stopped and started again at will.</summary>
public sealed class PrivateRedisServer : IDisposable
{
    private readonly string _folder;
    private Process? _process;

    public PrivateRedisServer(string program, string folder)
    {
        Program = program;
        _folder = folder;
        Port = FreePort();
    }

    public string Program { get; }

    public int Port { get; }

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Starts the server (the same command line each time) and waits until it answers PING.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(Program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", _folder })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start");
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!await PingAsync())
        {
            if (DateTime.UtcNow > deadline || _process.HasExited)
            {
                throw new InvalidOperationException($"redis-server on {Endpoint} did not answer");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Kills the server (SIGKILL: as abrupt as a crash) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            await process.WaitForExitAsync();
        }

        _process?.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            process.WaitForExit(5000);
        }

        _process?.Dispose();
    }

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new System.Net.Sockets.TcpClient();
            await client.ConnectAsync(System.Net.IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var read = await stream.ReadAsync(buffer, timeout.Token);
            return System.Text.Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException or OperationCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        return ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
    }
}
