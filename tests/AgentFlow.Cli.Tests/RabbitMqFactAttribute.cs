namespace AgentFlow.Cli.Tests;

/// <summary>A fact that needs the real RabbitMQ started by scripts/test.sh (AGENTFLOW_TEST_RABBITMQ); skipped, and says so, without it.</summary>
public sealed class RabbitMqFactAttribute : FactAttribute
{
    public RabbitMqFactAttribute()
    {
        if (string.IsNullOrEmpty(Uri))
        {
            Skip = "set AGENTFLOW_TEST_RABBITMQ=amqp://guest:guest@127.0.0.1:5672/ (scripts/test.sh does) to run against a real RabbitMQ";
        }
    }

    public static string? Uri => Environment.GetEnvironmentVariable("AGENTFLOW_TEST_RABBITMQ");
}
