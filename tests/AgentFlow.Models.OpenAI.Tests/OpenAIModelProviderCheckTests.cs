using AgentFlow.Diagnostics;

namespace AgentFlow.Models.OpenAI.Tests;

public sealed class OpenAIModelProviderCheckTests
{
    private const string Secret = "sk-proj-THIS-IS-THE-SECRET-VALUE-0123456789";

    internal static ModelSpec Spec(string name, params (string Key, string Value, int Line)[] settings) => new(
        name,
        "openai",
        settings.ToDictionary(s => s.Key, s => new ModelSetting(s.Value, new SourceLocation("agentflow.yaml", s.Line, 7))),
        new SourceLocation("agentflow.yaml", 3, 3));

    internal static Func<string, string?> Env(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void Name_IsOpenai() => Assert.Equal("openai", new OpenAIModelProvider(Env()).Name);

    [Fact]
    public void Check_KeyVariableSet_NoProblems()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        Assert.Empty(provider.Check(Spec("gpt", ("model", "gpt-4o-mini", 4))));
    }

    [Fact]
    public void Check_DefaultKeyVariableMissing_ExactMessageAtModelLocation()
    {
        var provider = new OpenAIModelProvider(Env());

        var problems = provider.Check(Spec("gpt", ("model", "gpt-4o-mini", 4)));

        Assert.Equal(["agentflow.yaml:3:3: model 'gpt': environment variable OPENAI_API_KEY (setting 'api_key_env') is not set; export it or set api_key_env"], problems);
    }

    [Fact]
    public void Check_NamedKeyVariableMissing_MessageAtSettingLocationNamesTheVariable()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problems = provider.Check(Spec("gpt", ("model", "gpt-4o-mini", 4), ("api_key_env", "MY_GATEWAY_KEY", 5)));

        Assert.Equal(["agentflow.yaml:5:7: model 'gpt': environment variable MY_GATEWAY_KEY (setting 'api_key_env') is not set; export it or set api_key_env"], problems);
    }

    [Fact]
    public void Check_KeyVariableEmpty_CountsAsNotSet()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", "  ")));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("model", "gpt-4o-mini", 4))));

        Assert.Contains("environment variable OPENAI_API_KEY (setting 'api_key_env') is not set", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("NONE")]
    public void Check_ApiKeyEnvNone_NeedsNoVariable(string none)
    {
        var provider = new OpenAIModelProvider(Env());

        Assert.Empty(provider.Check(Spec("local", ("endpoint", "http://127.0.0.1:8000/v1", 4), ("model", "qwen", 5), ("api_key_env", none, 6))));
    }

    [Fact]
    public void Check_ModelMissing_SaysItIsRequired()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt")));

        Assert.Equal("agentflow.yaml:3:3: model 'gpt': setting 'model' is required for provider 'openai'; add the model id the server knows, e.g. model: gpt-4o-mini", problem);
    }

    [Theory]
    [InlineData("api.openai.com/v1")]
    [InlineData("/v1")]
    [InlineData("ftp://example.com/v1")]
    [InlineData("file:///tmp/x")]
    [InlineData("not a url")]
    public void Check_BadEndpoint_MustBeAbsoluteHttpUrl(string endpoint)
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("endpoint", endpoint, 4), ("model", "gpt-4o-mini", 5))));

        Assert.Equal(
            $"agentflow.yaml:4:7: model 'gpt': setting 'endpoint' must be an absolute http or https URL, got '{endpoint}'; e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 for a local vLLM server",
            problem);
    }

    [Fact]
    public void Check_EndpointWithCredentials_RejectedWithoutEchoingThem()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("endpoint", "https://user:hunter2@example.com/v1", 4), ("model", "m", 5))));

        Assert.Contains("must not contain a user name or password", problem, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_UnknownKey_NamesAllowedKeysAndSuggests()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problems = provider.Check(Spec("gpt", ("model", "gpt-4o-mini", 4), ("api_key", "x", 5), ("temperature", "0", 6)));

        Assert.Equal(
            [
                "agentflow.yaml:5:7: model 'gpt': unknown setting 'api_key' for provider 'openai' (did you mean 'api_key_env'?); the allowed settings are endpoint, model, api_key_env, timeout, organization, max_tokens_field; never put the key itself in the registry: export it in an environment variable and name that variable with api_key_env",
                "agentflow.yaml:6:7: model 'gpt': unknown setting 'temperature' for provider 'openai'; the allowed settings are endpoint, model, api_key_env, timeout, organization, max_tokens_field",
            ],
            problems);
    }

    [Fact]
    public void Check_Typo_SuggestsTheNearestSetting()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("model", "m", 4), ("endpont", "https://x.example/v1", 5))));

        Assert.StartsWith("agentflow.yaml:5:7: model 'gpt': unknown setting 'endpont' for provider 'openai' (did you mean 'endpoint'?)", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_BadMaxTokensField_Reported()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("model", "m", 4), ("max_tokens_field", "n_predict", 5))));

        Assert.StartsWith("agentflow.yaml:5:7: model 'gpt': setting 'max_tokens_field' must be auto, max_tokens or max_completion_tokens, got 'n_predict'", problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://api.openai.com/v1", null, MaxTokensField.MaxCompletionTokens)]
    [InlineData("https://my-resource.openai.azure.com/openai/v1", null, MaxTokensField.MaxCompletionTokens)]
    [InlineData("http://127.0.0.1:8000/v1", null, MaxTokensField.MaxTokens)]
    [InlineData("http://localhost:11434/v1", "auto", MaxTokensField.MaxTokens)]
    [InlineData("http://localhost:8000/v1", "max_completion_tokens", MaxTokensField.MaxCompletionTokens)]
    [InlineData("https://api.openai.com/v1", "max_tokens", MaxTokensField.MaxTokens)]
    public void Options_MaxTokensField_AutoByEndpointOrExplicit(string endpoint, string? setting, MaxTokensField expected)
    {
        var settings = new List<(string, string, int)> { ("endpoint", endpoint, 4), ("model", "m", 5) };
        if (setting is not null)
        {
            settings.Add(("max_tokens_field", setting, 6));
        }

        Assert.Equal(expected, OpenAIModelOptions.Create(Spec("gpt", [.. settings])).MaxTokensField);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("ten")]
    [InlineData("3601")]
    public void Check_BadTimeout_Reported(string timeout)
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        var problem = Assert.Single(provider.Check(Spec("gpt", ("model", "m", 4), ("timeout", timeout, 5))));

        Assert.Equal(
            $"agentflow.yaml:5:7: model 'gpt': setting 'timeout' must be a whole number of seconds between 1 and 3600, got '{timeout}'; fix the value or remove the setting (default 100)",
            problem);
    }

    [Fact]
    public void Check_SeveralProblems_AllReportedAtOnce()
    {
        var provider = new OpenAIModelProvider(Env());

        var problems = provider.Check(Spec("gpt", ("endpoint", "nope", 4), ("timeout", "x", 5), ("colour", "red", 6)));

        Assert.Equal(4, problems.Count); // unknown key, endpoint, model, timeout (the key is checked once the settings are usable)
    }

    [Fact]
    public void Check_ApiKeyEnvHoldsTheKeyItself_RejectedWithoutEchoingIt()
    {
        var provider = new OpenAIModelProvider(Env());

        var problems = provider.Check(Spec("gpt", ("model", "m", 4), ("api_key_env", Secret, 5)));

        var problem = Assert.Single(problems);
        Assert.StartsWith("agentflow.yaml:5:7: model 'gpt': setting 'api_key_env' must be the NAME of an environment variable", problem, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, problem, StringComparison.Ordinal);
        Assert.DoesNotContain("THIS-IS", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ApiKeyEnvHoldsAHexTokenShapedLikeAName_NotEchoed()
    {
        const string token = "a3f9c2e71b8d4f60a3f9c2e71b8d4f60";
        var provider = new OpenAIModelProvider(Env());

        var problem = Assert.Single(provider.Check(Spec("gpt", ("model", "m", 4), ("api_key_env", token, 5))));

        Assert.DoesNotContain(token, problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeyValue_NeverAppearsInAnyMessageOrDescription()
    {
        var env = Env(("OPENAI_API_KEY", Secret), ("OTHER_KEY", Secret));
        var provider = new OpenAIModelProvider(env);
        ModelSpec[] specs =
        [
            Spec("a", ("model", "m", 4)),
            Spec("b", ("model", "m", 4), ("api_key_env", "MISSING_VAR", 5)),
            Spec("c", ("endpoint", "bad", 4), ("model", "m", 5), ("api_key_env", "OTHER_KEY", 6), ("x", "y", 7)),
            Spec("d", ("api_key_env", Secret, 4), ("model", "m", 5)),
            Spec("e", ("model", "m", 4), ("timeout", "zero", 5), ("organization", "org-1", 6)),
            Spec("e2", ("model", "m", 4), ("api_key", Secret, 5), ("token", Secret, 6)),
            Spec("f", ("endpoint", "http://127.0.0.1:9/v1", 4), ("model", "m", 5), ("api_key_env", "OTHER_KEY", 6)),
        ];

        var texts = new List<string>();
        foreach (var spec in specs)
        {
            texts.AddRange(provider.Check(spec));
            try
            {
                await using var loaded = await provider.LoadAsync(spec, CancellationToken.None);
                texts.Add(loaded.Description);
                texts.Add(loaded.Spec.ToString());
            }
            catch (ModelConfigurationException ex)
            {
                texts.Add(ex.ToString());
            }
        }

        texts.Add(OpenAIModelOptions.Create(Spec("g", ("model", "m", 4))).ToString());

        Assert.Contains(texts, t => t.Contains("MISSING_VAR", StringComparison.Ordinal));
        Assert.Contains("openai-compatible m at http://127.0.0.1:9/v1", texts);
        Assert.All(texts, t => Assert.DoesNotContain("THIS-IS-THE-SECRET", t, StringComparison.Ordinal));
    }

    [Fact]
    public async Task LoadAsync_KeyMissing_ThrowsWithTheCheckMessage()
    {
        var provider = new OpenAIModelProvider(Env());

        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => provider.LoadAsync(Spec("gpt", ("model", "gpt-4o-mini", 4)), CancellationToken.None));

        Assert.Equal("agentflow.yaml:3:3: model 'gpt': environment variable OPENAI_API_KEY (setting 'api_key_env') is not set; export it or set api_key_env", ex.Message);
    }

    [Fact]
    public async Task LoadAsync_Description_NamesModelAndEndpointOnly()
    {
        var provider = new OpenAIModelProvider(Env(("OPENAI_API_KEY", Secret)));

        await using var loaded = await provider.LoadAsync(Spec("gpt", ("model", "gpt-4o-mini", 4)), CancellationToken.None);

        Assert.Equal("openai-compatible gpt-4o-mini at https://api.openai.com/v1", loaded.Description);
        Assert.Equal("openai", loaded.Provider);
        Assert.Null(loaded.FileSha256);
    }

    [Fact]
    public void Options_Defaults()
    {
        var options = OpenAIModelOptions.Create(Spec("gpt", ("model", "gpt-4o-mini", 4)));

        Assert.Equal(new Uri("https://api.openai.com/v1"), options.Endpoint);
        Assert.Equal("OPENAI_API_KEY", options.ApiKeyVariable);
        Assert.Equal(TimeSpan.FromSeconds(100), options.Timeout);
        Assert.Null(options.Organization);
        Assert.Equal(MaxTokensField.MaxCompletionTokens, options.MaxTokensField);
    }

    [Fact]
    public void Options_AllSettingsRead()
    {
        var options = OpenAIModelOptions.Create(Spec(
            "local",
            ("endpoint", "http://localhost:11434/v1/", 4),
            ("model", " llama3.2 ", 5),
            ("api_key_env", "none", 6),
            ("timeout", "30", 7),
            ("organization", "org-42", 8)));

        Assert.Equal("http://localhost:11434/v1", options.DisplayEndpoint);
        Assert.Equal("llama3.2", options.Model);
        Assert.Null(options.ApiKeyVariable);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Timeout);
        Assert.Equal("org-42", options.Organization);
    }
}
