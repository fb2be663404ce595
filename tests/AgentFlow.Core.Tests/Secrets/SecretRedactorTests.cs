using AgentFlow.Models;
using AgentFlow.Secrets;

namespace AgentFlow.Core.Tests.Secrets;

public sealed class SecretRedactorTests
{
    [Fact]
    public void Redact_KnownValue_IsMaskedEverywhereItOccurs()
    {
        var secrets = new SecretRedactor();
        secrets.Add("sk-live-123456");

        Assert.Equal("key *** and again ***", secrets.Redact("key sk-live-123456 and again sk-live-123456"));
    }

    [Fact]
    public void Redact_BearerCredential_IsMaskedEvenWhenUnknown()
    {
        var secrets = new SecretRedactor();

        Assert.Equal("you sent Authorization: Bearer ***, try again", secrets.Redact("you sent Authorization: Bearer abc.DEF-123_x~y+z/w==, try again"));
        Assert.Equal("send 'Authorization: Bearer <token>'", secrets.Redact("send 'Authorization: Bearer <token>'"));
    }

    [Fact]
    public void Redact_SecretContainingAnother_IsMaskedWhole()
    {
        var secrets = new SecretRedactor();
        secrets.Add("abcd");
        secrets.Add("abcdefgh");

        Assert.Equal("x *** y", secrets.Redact("x abcdefgh y"));
    }

    [Fact]
    public void Add_ShortOrBlankValue_IsNotRegistered()
    {
        var secrets = new SecretRedactor();
        secrets.Add("abc");
        secrets.Add("   ");
        secrets.Add(null);

        Assert.Equal(0, secrets.Count);
        Assert.Equal("abc", secrets.Redact("abc"));
    }

    [Fact]
    public void Add_EscapedForms_AreMaskedToo()
    {
        var secrets = new SecretRedactor();
        secrets.Add("p@ss\"word/1");

        Assert.Equal("*** *** ***", secrets.Redact("p@ss\"word/1 p%40ss%22word%2F1 p@ss\\u0022word/1"));
    }

    [Theory]
    [InlineData("amqp://guest:s3cr%40t@127.0.0.1:5672/vhost")]
    [InlineData("redis://:s3cr%40t@127.0.0.1:6379/2")]
    [InlineData("127.0.0.1:6379,password=s3cr@t,defaultDatabase=2")]
    public void AddConnectionPassword_Connection_MasksItsPassword(string connection)
    {
        var secrets = new SecretRedactor();
        secrets.AddConnectionPassword(connection);

        Assert.Equal("failed: ***", secrets.Redact("failed: s3cr@t"));
    }

    [Fact]
    public void AddEnvironment_KnownVariables_AreMasked()
    {
        var secrets = SecretRedactor.FromEnvironment(new Dictionary<string, string>
        {
            ["AGENTFLOW_API_TOKEN"] = "api-token-1",
            ["MLFLOW_TRACKING_TOKEN"] = "mlflow-token-2",
            ["MLFLOW_TRACKING_PASSWORD"] = "mlflow-pass-3",
            ["AGENTFLOW_RABBITMQ"] = "amqp://u:rabbit-pass-4@host/",
            ["AGENTFLOW_REDIS"] = "host:6379,password=redis-pass-5",
            ["HOME"] = "/home/someone",
        });

        Assert.Equal("*** *** *** *** *** /home/someone", secrets.Redact("api-token-1 mlflow-token-2 mlflow-pass-3 rabbit-pass-4 redis-pass-5 /home/someone"));
    }

    [Fact]
    public void AddRegistry_ApiKeyEnv_MasksTheVariablesValue()
    {
        var registry = ModelRegistry.Parse("""
            models:
              gpt: { provider: openai, model: m, api_key_env: MY_KEY }
              local: { provider: openai, model: m, api_key_env: none }
            memory: { store: redis, connection: "host:6379,password=mem-pass-6" }
            """, "agentflow.yaml");
        var secrets = new SecretRedactor();

        secrets.AddRegistry(registry, new Dictionary<string, string> { ["MY_KEY"] = "key-value-7", ["none"] = "not-a-secret" });

        Assert.Equal("*** *** not-a-secret", secrets.Redact("key-value-7 mem-pass-6 not-a-secret"));
    }
}
