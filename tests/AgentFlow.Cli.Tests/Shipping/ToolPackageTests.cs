using System.Text.Json;

namespace AgentFlow.Cli.Tests.Shipping;

/// <summary>
/// The real tool package, installed with <c>dotnet tool install --tool-path</c> and run from folders that hold no
/// clone: version, scaffold, validate, run, record and shell completion.
/// </summary>
public sealed class ToolPackageTests(ToolPackageFixture tool) : IClassFixture<ToolPackageFixture>
{
    [Fact]
    public async Task Version_InstalledTool_PrintsPackageVersionAndCommit()
    {
        var result = await tool.AgentflowAsync(EmptyFolder(), "--version");

        Assert.True(result.ExitCode == 0, result.ToString());
        // e.g. 0.9.0+325adf549afd7052072fdd23ce1b03b08a11a8dd: the package version, then the commit it was built from.
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(tool.Version)}\+[0-9a-f]{{40}}\s*$", result.Stdout);
    }

    [Fact]
    public async Task Bench_InstalledTool_PointsToTheBenchmarkProgramAndShipsNeitherItNorThePeerEngine()
    {
        var result = await tool.AgentflowAsync(EmptyFolder(), "bench", "--scenario", "step-overhead");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("./agentflow bench", result.Stderr, StringComparison.Ordinal);
        var shipped = Directory.EnumerateFiles(Path.Combine(tool.Root, "tools"), "*.dll", SearchOption.AllDirectories).Select(Path.GetFileName).ToList();
        Assert.Contains("agentflow.dll", shipped);
        Assert.DoesNotContain("AgentFlow.Bench.dll", shipped);
        Assert.DoesNotContain("WorkflowCore.dll", shipped);
    }

    [Theory]
    [InlineData("triage", "ticket=I was charged twice for my subscription", 0)]
    [InlineData("research", "topic=remote work", 0)]
    [InlineData("approval", "ticket=I was charged twice", 3)]
    public async Task Init_EmptyFolder_ScaffoldValidatesRunsAndIsRecorded(string template, string input, int exitCode)
    {
        var folder = EmptyFolder();

        var init = await tool.AgentflowAsync(folder, "init", "demo", "--template", template);
        Assert.True(init.ExitCode == 0, init.ToString());
        var demo = Path.Combine(folder, "demo");
        foreach (var name in new[] { "workflow.yaml", "agentflow.yaml", "cases.jsonl", "README.md", "agentflow-workflow.schema.json", "agentflow-config.schema.json" })
        {
            Assert.True(File.Exists(Path.Combine(demo, name)), $"{name} missing\n{init}");
        }

        Assert.StartsWith("# yaml-language-server: $schema=agentflow-workflow.schema.json", await File.ReadAllTextAsync(Path.Combine(demo, "workflow.yaml")));
        Assert.Equal(5, (await File.ReadAllLinesAsync(Path.Combine(demo, "README.md"))).Length);

        var validate = await tool.AgentflowAsync(demo, "validate", "workflow.yaml");
        Assert.True(validate.ExitCode == 0, validate.ToString());

        var run = await tool.AgentflowAsync(demo, "run", "workflow.yaml", "--input", input, "--json");
        Assert.True(run.ExitCode == exitCode, run.ToString());
        var runId = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("run_id").GetString()!;

        // The embedded stores live in the project folder, the generated built-in models in the user's data folder.
        Assert.True(File.Exists(Path.Combine(demo, ".agentflow", "mlflow.db")), run.ToString());
        Assert.NotEmpty(Directory.EnumerateFiles(Path.Combine(tool.Environment["AGENTFLOW_HOME"], "models"), "*.gguf"));

        var export = await tool.AgentflowAsync(demo, "runs", "export", runId);
        Assert.True(export.ExitCode == 0, export.ToString());
        var record = JsonDocument.Parse(export.Stdout).RootElement;
        // The record names the AgentFlow build and the built-in model's format that produced the run.
        Assert.StartsWith(tool.Version + "+", record.GetProperty("tags").GetProperty("agentflow.version").GetString());
        Assert.Contains("built-in tiny llama (format ", record.GetProperty("transcript").GetProperty("models").GetProperty("tiny").GetProperty("description").GetString());
    }

    [Fact]
    public async Task Init_ExistingFiles_RefusesAndChangesNothing()
    {
        var folder = EmptyFolder();
        var workflow = Path.Combine(folder, "workflow.yaml");
        await File.WriteAllTextAsync(workflow, "mine");

        var init = await tool.AgentflowAsync(folder, "init");

        Assert.True(init.ExitCode == 2, init.ToString());
        Assert.Contains("workflow.yaml already exists", init.Stderr);
        Assert.Contains("nothing was written", init.Stderr);
        Assert.Equal("mine", await File.ReadAllTextAsync(workflow));
        Assert.Equal([workflow], Directory.EnumerateFileSystemEntries(folder));
    }

    [Fact]
    public async Task Completion_Bash_ScriptParsesAndCompletesCommandsFilesModelsAndRuns()
    {
        var folder = EmptyFolder();
        var init = await tool.AgentflowAsync(folder, "init");
        Assert.True(init.ExitCode == 0, init.ToString());
        var run = await tool.AgentflowAsync(folder, "run", "workflow.yaml", "--input", "ticket=hello", "--json");
        Assert.True(run.ExitCode == 0, run.ToString());
        var runId = JsonDocument.Parse(run.Stdout).RootElement.GetProperty("run_id").GetString()!;

        var script = await tool.AgentflowAsync(folder, "completion", "bash");
        Assert.True(script.ExitCode == 0, script.ToString());
        var path = Path.Combine(folder, "agentflow.bash");
        await File.WriteAllTextAsync(path, script.Stdout);
        var syntax = await ToolPackageFixture.RunAsync("bash", folder, tool.Environment, "-n", path);
        Assert.True(syntax.ExitCode == 0, syntax.ToString());

        Assert.Equal(["run", "runs"], await CompleteAsync(folder, path, "agentflow ru"));
        var files = await CompleteAsync(folder, path, "agentflow run ");
        Assert.Contains("workflow.yaml", files);
        Assert.DoesNotContain("agentflow.yaml", files);
        Assert.Contains("--bind", await CompleteAsync(folder, path, "agentflow run workflow.yaml --b"));
        var bindings = await CompleteAsync(folder, path, "agentflow run workflow.yaml --bind writer=t");
        Assert.Contains("writer=tiny", bindings);
        Assert.Contains("writer=tiny2", bindings);
        Assert.All(bindings, b => Assert.StartsWith("writer=t", b));
        Assert.Contains(runId, await CompleteAsync(folder, path, "agentflow runs show "));
    }

    [Theory]
    [InlineData("zsh", "compdef _agentflow agentflow")]
    [InlineData("pwsh", "Register-ArgumentCompleter -Native -CommandName agentflow")]
    public async Task Completion_OtherShells_PrintTheirScripts(string shell, string expected)
    {
        var script = await tool.AgentflowAsync(EmptyFolder(), "completion", shell);

        Assert.True(script.ExitCode == 0, script.ToString());
        Assert.Contains(expected, script.Stdout);
        Assert.Contains("[suggest:", script.Stdout);
    }

    /// <summary>Calls the bash completion function as bash would for <paramref name="line"/> with the cursor at its end.</summary>
    private async Task<string[]> CompleteAsync(string folder, string script, string line)
    {
        var driver = $$"""
            source '{{script}}'
            COMP_LINE='{{line}}'
            COMP_POINT=${#COMP_LINE}
            read -ra COMP_WORDS <<< "$COMP_LINE"
            if [[ "$COMP_LINE" == *' ' ]]; then COMP_WORDS+=(''); fi
            COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
            _agentflow_complete
            printf '%s\n' "${COMPREPLY[@]}"
            """;
        var result = await ToolPackageFixture.RunAsync("bash", folder, tool.Environment, "-c", driver);
        Assert.True(result.ExitCode == 0, result.ToString());
        return result.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    // An empty folder outside any clone (under the fixture's temp root, removed with it).
    private string EmptyFolder() => Directory.CreateDirectory(Path.Combine(tool.Root, "work", Guid.NewGuid().ToString("N"))).FullName;
}
