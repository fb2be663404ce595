namespace AgentFlow.Tracking.MLflow.Tests;

public sealed class FactoryTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task Create_NoUriNoVariable_OpensDefaultSqliteInAgentflowFolder()
    {
        await using var store = MlflowStoreFactory.Create(null, new MlflowStoreOptions
        {
            WorkingDirectory = _folder.Path,
            Environment = new Dictionary<string, string>(),
        });

        var sqlite = Assert.IsType<MlflowSqliteStore>(store);
        Assert.Equal("sqlite:///.agentflow/mlflow.db", store.TrackingUri);
        Assert.Equal(Path.Combine(_folder.Path, ".agentflow", "mlflow.db"), sqlite.DatabasePath);
        Assert.Equal(Path.Combine(_folder.Path, ".agentflow", "mlartifacts"), sqlite.ArtifactRoot);
        Assert.True(File.Exists(sqlite.DatabasePath));
        Assert.True(Directory.Exists(sqlite.ArtifactRoot));
    }

    [Fact]
    public async Task Create_VariableSet_UsesMlflowTrackingUri()
    {
        var absolute = Path.Combine(_folder.Path, "elsewhere", "db.sqlite");
        await using var store = MlflowStoreFactory.Create("", new MlflowStoreOptions
        {
            WorkingDirectory = _folder.Path,
            Environment = new Dictionary<string, string> { ["MLFLOW_TRACKING_URI"] = "sqlite:///" + absolute },
        });
        Assert.Equal(absolute, Assert.IsType<MlflowSqliteStore>(store).DatabasePath);
    }

    [Theory]
    [InlineData("http://127.0.0.1:5000")]
    [InlineData("https://mlflow.example.com/")]
    public async Task Create_HttpUri_ReturnsRestStore(string uri)
    {
        await using var store = MlflowStoreFactory.Create(uri, new MlflowStoreOptions { Environment = new Dictionary<string, string>() });
        Assert.IsType<MlflowRestStore>(store);
        Assert.Equal(uri, store.TrackingUri);
    }

    [Theory]
    [InlineData("./mlruns")]
    [InlineData("file:///tmp/mlruns")]
    [InlineData("databricks://profile")]
    [InlineData("sqlite://relative.db")]
    [InlineData("sqlite:///:memory:")]
    public void Create_UnsupportedUri_ThrowsConfigurationException(string uri) =>
        Assert.Throws<MlflowConfigurationException>(() => MlflowStoreFactory.Create(uri, new MlflowStoreOptions
        {
            WorkingDirectory = _folder.Path,
            Environment = new Dictionary<string, string>(),
        }));

    [Fact]
    public void Create_InvalidOptions_ThrowsConfigurationException()
    {
        Assert.Throws<MlflowConfigurationException>(() => MlflowStoreFactory.Create("http://x", new MlflowStoreOptions { MaxRetries = -1 }));
        Assert.Throws<MlflowConfigurationException>(() => MlflowStoreFactory.Create("http://x", new MlflowStoreOptions { RequestTimeout = TimeSpan.Zero }));
        Assert.Throws<MlflowConfigurationException>(() => MlflowStoreFactory.Create("http://x", new MlflowStoreOptions
        {
            RetryBaseDelay = TimeSpan.FromSeconds(10),
            RetryMaxDelay = TimeSpan.FromSeconds(1),
        }));
    }

    [Fact]
    public void ResolveTrackingUri_Precedence_ArgumentThenVariableThenDefault()
    {
        var environment = new Dictionary<string, string> { ["MLFLOW_TRACKING_URI"] = "http://env:5000" };
        Assert.Equal("http://arg:5000", MlflowStoreFactory.ResolveTrackingUri("http://arg:5000", environment));
        Assert.Equal("http://env:5000", MlflowStoreFactory.ResolveTrackingUri(null, environment));
        Assert.Equal(MlflowStoreFactory.DefaultTrackingUri, MlflowStoreFactory.ResolveTrackingUri(" ", new Dictionary<string, string>()));
    }

    [Theory]
    [InlineData("a/b", "a/b")]
    [InlineData("a//b", "a/b")]
    [InlineData("./a", "a")]
    [InlineData("a/../..", "..")]
    [InlineData("/x/../y", "/y")]
    [InlineData("//x", "//x")]
    [InlineData("///x", "/x")]
    [InlineData("", ".")]
    public void PosixNormPath_MatchesPython(string path, string expected) =>
        Assert.Equal(expected, MlflowValidation.PosixNormPath(path));
}
