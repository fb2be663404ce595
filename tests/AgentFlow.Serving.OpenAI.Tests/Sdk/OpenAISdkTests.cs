using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;

namespace AgentFlow.Serving.OpenAI.Tests.Sdk;

/// <summary>
/// The official <c>openai</c> Node SDK (6.x, pinned in node/package-lock.json) against the endpoint serving the tiny
/// model and MiniLM: non-streamed and streamed completions (<c>finalChatCompletion()</c> needs the role on the first
/// chunk), forced tool calls both ways, <c>embeddings.create</c>, <c>models.retrieve</c>, and the SDK's error classes
/// for client mistakes — without retries, which it makes on 5xx.
/// </summary>
[Collection(TinyEndpointTests.Name)]
public sealed class OpenAISdkTests(TinyEndpointFixture fixture)
{
    [NodeFact]
    public async Task OpenAINodeSdk_AgainstTheEndpoint_CompletesStreamsAndRaisesTypedErrors()
    {
        var folder = NodeFactAttribute.ScriptFolder();
        if (!File.Exists(Path.Combine(folder, "node_modules", "openai", "package.json")))
        {
            await RunAsync(NodeFactAttribute.Find("npm")!, folder, "ci", "--no-audit", "--no-fund");
        }

        var output = await RunAsync(NodeFactAttribute.Find("node")!, folder, "sdk-check.mjs", fixture.Url("/v1").ToString(), "tiny", "minilm");
        var seen = JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();
        var direct = await fixture.Tiny.Client.GetResponseAsync([new ChatMessage(ChatRole.User, "Tell me about tea.")], new ChatOptions { Temperature = 0, MaxOutputTokens = 8 });

        Assert.Equal("chat.completion", seen["create"]!["object"]!.GetValue<string>());
        Assert.Equal(direct.Text, seen["create"]!["content"]!.GetValue<string>());
        Assert.Equal("assistant", seen["create"]!["role"]!.GetValue<string>());
        Assert.Equal(8, seen["create"]!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal(direct.Text, seen["stream"]!["content"]!.GetValue<string>());
        Assert.Equal(direct.Text, seen["stream"]!["deltas"]!.GetValue<string>());
        Assert.Equal("assistant", seen["stream"]!["role"]!.GetValue<string>());
        Assert.Equal("length", seen["stream"]!["finish_reason"]!.GetValue<string>());
        Assert.Equal(8, seen["stream"]!["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal([0, 1], seen["n"]!.AsArray().Select(i => i!.GetValue<int>()));
        Assert.Equal("tiny", seen["model"]!["id"]!.GetValue<string>());
        Assert.True(seen["model"]!["created"]!.GetValue<long>() > 0);

        // Tool calls: the SDK's own parsing, plain and through the stream helper's finalChatCompletion().
        Assert.Equal("tool_calls", seen["tools"]!["finish_reason"]!.GetValue<string>());
        Assert.Null(seen["tools"]!["content"]);
        var call = Assert.Single(seen["tools"]!["tool_calls"]!.AsArray())!;
        Assert.StartsWith("call_", call["id"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal("function", call["type"]!.GetValue<string>());
        Assert.Equal("lookup_order", call["function"]!["name"]!.GetValue<string>());
        var orderId = JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["order_id"]!.GetValue<string>();
        Assert.Matches("^[A-Z0-9-]{1,20}$", orderId);
        Assert.Equal("tool_calls", seen["toolStream"]!["finish_reason"]!.GetValue<string>());
        var streamed = Assert.Single(seen["toolStream"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("lookup_order", streamed["function"]!["name"]!.GetValue<string>());
        Assert.Equal(call["function"]!["arguments"]!.GetValue<string>(), streamed["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("chat.completion", seen["roundTrip"]!["object"]!.GetValue<string>());

        // Embeddings: the SDK asks for base64 by default and decodes it; the float form gives the same numbers.
        var embeddings = seen["embeddings"]!;
        var tea = await fixture.MiniLm.GenerateVectorAsync("How do I brew green tea?");
        Assert.Equal("list", embeddings["object"]!.GetValue<string>());
        Assert.Equal("minilm", embeddings["model"]!.GetValue<string>());
        Assert.Equal(384, embeddings["length"]!.GetValue<int>());
        Assert.Equal(tea.ToArray()[..4], embeddings["first"]!.AsArray().Select(v => v!.GetValue<float>()));
        Assert.Equal(fixture.MiniLm.CountTokens("How do I brew green tea?"), embeddings["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal([0, 1], embeddings["indexes"]!.AsArray().Select(i => i!.GetValue<int>()));
        Assert.True(embeddings["maxDifference"]!.GetValue<double>() < 1e-6, embeddings.ToJsonString());

        var errors = seen["errors"]!.AsObject();
        AssertError(errors, "badToolChoice", "BadRequestError", 400, "tool_choice.function.name");
        AssertError(errors, "badDimensions", "BadRequestError", 400, "dimensions", "unsupported_parameter");
        AssertError(errors, "wrongType", "BadRequestError", 400, "messages[0].content");
        AssertError(errors, "zeroTokens", "BadRequestError", 400, "max_tokens");
        AssertError(errors, "streamWrongType", "BadRequestError", 400, "temperature");
        AssertError(errors, "unknownModel", "NotFoundError", 404, "model", "model_not_found");
        AssertError(errors, "unknownModelRetrieve", "NotFoundError", 404, "model", "model_not_found");
        AssertError(errors, "tooLong", "BadRequestError", 400, "messages", "context_length_exceeded");
    }

    private static void AssertError(JsonObject errors, string name, string errorClass, int status, string param, string? code = null)
    {
        var error = errors[name]!;
        Assert.True(errorClass == error["class"]?.GetValue<string>(), $"{name}: {error.ToJsonString()}");
        Assert.Equal(status, error["status"]!.GetValue<int>());
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Equal(1, error["requests"]!.GetValue<int>());
        if (code is not null)
        {
            Assert.Equal(code, error["code"]!.GetValue<string>());
        }
    }

    private static async Task<string> RunAsync(string program, string folder, params string[] args)
    {
        var info = new ProcessStartInfo(program) { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        Assert.True(process.ExitCode == 0, $"{Path.GetFileName(program)} {string.Join(' ', args)} exited {process.ExitCode}:\n{await stdout}\n{await stderr}");
        return await stdout;
    }
}

/// <summary>A fact that runs Node (the official openai SDK); skipped, and says so, when <c>node</c> is not on PATH.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (Find("node") is null)
        {
            Skip = "needs Node.js (node and npm on PATH) to drive the endpoint with the official openai SDK";
        }
    }

    /// <summary>The program's path on PATH, or null.</summary>
    public static string? Find(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, program))
            .FirstOrDefault(File.Exists);

    /// <summary>tests/AgentFlow.Serving.OpenAI.Tests/node in the source tree (its node_modules is git-ignored, installed by npm ci).</summary>
    public static string ScriptFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "AgentFlow.Serving.OpenAI.Tests", "node");
            if (File.Exists(Path.Combine(candidate, "sdk-check.mjs")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"tests/AgentFlow.Serving.OpenAI.Tests/node not found above {AppContext.BaseDirectory}");
    }
}
