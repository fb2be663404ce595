using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentFlow.Bench;

/// <summary>Settings of one benchmark run.</summary>
public sealed class BenchOptions
{
    /// <summary>Environment variable naming the broker for the RabbitMQ scenarios.</summary>
    public const string RabbitMqVariable = "AGENTFLOW_RABBITMQ";

    /// <summary>Environment variable naming the Chroma server the retrieval scenario measures.</summary>
    public const string ChromaVariable = "AGENTFLOW_CHROMA";

    /// <summary>The Chroma server the retrieval scenario measures beside the embedded store; null measures the embedded store only.</summary>
    public Uri? ChromaUri { get; set; }

    /// <summary>Collection sizes the retrieval scenario searches (default 1,000, 10,000 and 100,000 vectors; tiny size: 200).</summary>
    public IReadOnlyList<int> VectorCounts { get; set; } = [1_000, 10_000, 100_000];

    /// <summary>How much work each scenario does. Default <see cref="BenchSize.Default"/>.</summary>
    public BenchSize Size { get; set; } = BenchSize.Default;

    /// <summary>The broker for the RabbitMQ scenarios; null skips them.</summary>
    public Uri? RabbitMqUri { get; set; }

    /// <summary>
    /// The built <c>agentflow</c> program cold-start launches: an executable, or a <c>.dll</c> run with <c>dotnet</c>.
    /// Null skips cold-start.
    /// </summary>
    public string? AgentflowProgram { get; set; }

    /// <summary>Where stores and files are written (a fresh temp folder by default; deleted after the run).</summary>
    public string? WorkingDirectory { get; set; }

    /// <summary>The clock (monotonic timestamps for every figure).</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>Logging for the hosts the scenarios start (warnings only by default).</summary>
    public ILoggerFactory LoggerFactory { get; set; } = NullLoggerFactory.Instance;

    /// <summary>Progress lines (scenario started, phase), or null for none.</summary>
    public Action<string>? Progress { get; set; }

    /// <summary>Picks the value for <paramref name="tiny"/> or <paramref name="full"/> by <see cref="Size"/>.</summary>
    internal int Pick(int tiny, int full) => Size == BenchSize.Tiny ? tiny : full;

    internal void Say(string line) => Progress?.Invoke(line);
}
