using AgentFlow.Messaging.Bus;
using AgentFlow.Messaging.Contracts;
using AgentFlow.Messaging.ModelWorker;
using Microsoft.Extensions.DependencyInjection;

namespace AgentFlow.Messaging.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void FromEnvironment_NoVariable_InMemoryWithDefaults()
    {
        var options = MessagingOptions.FromEnvironment(new Dictionary<string, string>());

        Assert.Equal(MessagingTransport.InMemory, options.Transport);
        Assert.Equal(TimeSpan.FromSeconds(120), options.RequestTimeout);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void FromEnvironment_RabbitMqVariable_SelectsRabbitMqAndRedactsPassword()
    {
        var options = MessagingOptions.FromEnvironment(new Dictionary<string, string> { [MessagingOptions.RabbitMqVariable] = "amqp://agent:s3cret@broker:5672/" });

        Assert.Equal(MessagingTransport.RabbitMq, options.Transport);
        Assert.Empty(options.Validate());
        Assert.DoesNotContain("s3cret", options.RedactedRabbitMqUri, StringComparison.Ordinal);
        Assert.Contains("agent:***@broker", options.RedactedRabbitMqUri, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RabbitMqWithoutUriOrWrongScheme_ListsProblemsWithoutPassword()
    {
        Assert.Contains(new MessagingOptions { Transport = MessagingTransport.RabbitMq }.Validate(), p => p.Contains(MessagingOptions.RabbitMqVariable, StringComparison.Ordinal));
        var wrong = new MessagingOptions { Transport = MessagingTransport.RabbitMq, RabbitMqUri = new Uri("http://u:pw123@host/") }.Validate();
        var problem = Assert.Single(wrong);
        Assert.DoesNotContain("pw123", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void AddAgentFlowWorker_InvalidOptions_ThrowsListingEveryProblem()
    {
        var worker = new ModelWorkerOptions { WorkerId = " " }.AddModel("bad name!").AddModel("tiny", concurrentMessageLimit: 0);

        var ex = Assert.Throws<MessagingConfigurationException>(() =>
            new ServiceCollection().AddAgentFlowWorker(new MessagingOptions { RequestTimeout = TimeSpan.Zero }, worker, (_, _) => throw new InvalidOperationException()));

        Assert.Contains("WorkerId", ex.Message, StringComparison.Ordinal);
        Assert.Contains("bad name!", ex.Message, StringComparison.Ordinal);
        Assert.Contains("ConcurrentMessageLimit", ex.Message, StringComparison.Ordinal);
        Assert.Contains("RequestTimeout", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ModelQueuesFor_Name_PrefixedQueue()
    {
        Assert.Equal("agentflow.model.tiny", ModelQueues.For("tiny"));
        Assert.Throws<ArgumentException>(() => ModelQueues.For("a/b"));
    }

    [Fact]
    public void DefaultWorkerId_HostAndPid()
    {
        Assert.Equal($"{Environment.MachineName}-{Environment.ProcessId}", new ModelWorkerOptions().WorkerId);
    }
}
