using AgentFlow.Tracking.MLflow.Audit;

namespace AgentFlow.Tracking.MLflow.Tests.Audit;

public sealed class AuditKeyTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("agentflow-key-tests-").FullName;

    public void Dispose() => Directory.Delete(_home, recursive: true);

    private Func<string, string?> Environment(string? key = null) => name => name switch
    {
        "AGENTFLOW_HOME" => _home,
        AuditKey.KeyVariable => key,
        _ => null,
    };

    [Fact]
    public void LoadOrCreate_NoKeyYet_CreatesAnOwnerOnlyKeyFileAndReusesIt()
    {
        Assert.Null(AuditKey.Load(Environment()));

        var created = AuditKey.LoadOrCreate(Environment());
        var again = AuditKey.LoadOrCreate(Environment());

        var file = Path.Combine(_home, AuditKey.KeyFileName);
        Assert.Equal(file, created.Source);
        Assert.Equal(created.Id, again.Id);
        Assert.Equal(created.Id, AuditKey.Load(Environment())!.Id);
        Assert.Equal(64, File.ReadAllText(file).Trim().Length);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        }
    }

    [Fact]
    public void Load_KeyFileReadableByOthers_IsRefusedWithTheFix()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var file = Path.Combine(_home, AuditKey.KeyFileName);
        AuditKey.LoadOrCreate(Environment());
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        var error = Assert.Throws<AuditKeyException>(() => AuditKey.Load(Environment()));

        Assert.Contains($"chmod 600 {file}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_VariableSet_WinsOverTheFileAndAcceptsHexOrBase64()
    {
        AuditKey.LoadOrCreate(Environment());
        var bytes = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

        var hex = AuditKey.Load(Environment(Convert.ToHexString(bytes)))!;
        var base64 = AuditKey.Load(Environment(Convert.ToBase64String(bytes)))!;

        Assert.Equal(AuditKey.KeyVariable, hex.Source);
        Assert.Equal(hex.Id, base64.Id);
        Assert.NotEqual(AuditKey.Load(Environment())!.Id, hex.Id);
    }

    [Theory]
    [InlineData("tooshort")]
    [InlineData("abcdef0123")]
    [InlineData("not base64 or hex!!")]
    public void Load_MalformedVariable_SaysTheFormatWithoutEchoingIt(string value)
    {
        var error = Assert.Throws<AuditKeyException>(() => AuditKey.Load(Environment(value)));

        Assert.Contains("openssl rand -hex 32", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(value, error.Message, StringComparison.Ordinal);
    }
}
