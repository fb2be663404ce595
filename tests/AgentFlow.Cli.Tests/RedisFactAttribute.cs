namespace AgentFlow.Cli.Tests;

/// <summary>A fact that needs the real Redis started by scripts/test.sh (AGENTFLOW_TEST_REDIS); skipped, and says so, without it.</summary>
public sealed class RedisFactAttribute : FactAttribute
{
    public RedisFactAttribute()
    {
        if (string.IsNullOrEmpty(Connection))
        {
            Skip = "set AGENTFLOW_TEST_REDIS=127.0.0.1:6379 (scripts/test.sh does) to run against a real Redis";
        }
    }

    public static string? Connection => Environment.GetEnvironmentVariable("AGENTFLOW_TEST_REDIS");
}
