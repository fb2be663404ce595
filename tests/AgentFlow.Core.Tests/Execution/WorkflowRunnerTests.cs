using AgentFlow.Execution;

namespace AgentFlow.Core.Tests.Execution;

public sealed class WorkflowRunnerTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public async Task RunAsync_AgentChain_RunsEveryStepInOrderWithTokenCounts()
    {
        var record = await fixture.RunAsync("""
            name: chain
            version: 1
            models: { w: tiny }
            steps:
              - id: one
                agent: { model: w, prompt: "Say something", max_tokens: 8, temperature: 0 }
              - id: two
                agent: { model: w, system: "Be brief.", prompt: "Repeat: {{ steps.one.output }}", max_tokens: 8, temperature: 0 }
            outputs:
              final: "{{ steps.two.output }}"
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(["one", "two"], record.Steps.Select(s => s.Id));
        Assert.All(record.Steps, s =>
        {
            Assert.Equal(StepStatus.Succeeded, s.Status);
            Assert.True(s.InputTokens > 0);
            Assert.InRange(s.OutputTokens ?? 0, 1, 8);
        });
        Assert.Contains(record.Steps[0].Output!, record.Steps[1].Prompt!, StringComparison.Ordinal);
        Assert.Equal("Be brief.", record.Steps[1].System);
        Assert.Equal(record.Steps[1].Output, record.Outputs["final"]);
    }

    [Theory]
    [InlineData("billing", "billing_reply", "case 1")]
    [InlineData("bug", "bug_reply", "case 2")]
    [InlineData("other", "general_reply", "default")]
    public async Task RunAsync_Switch_TakesExactlyOnePath(string kind, string expectedStep, string expectedDetail)
    {
        var record = await fixture.RunAsync("""
            name: triage
            version: 1
            inputs: { kind: { required: true } }
            models: { w: tiny }
            steps:
              - id: route
                switch:
                  cases:
                    - when: "inputs.kind == 'billing'"
                      steps: [ { id: billing_reply, agent: { model: w, prompt: "billing", max_tokens: 4 } } ]
                    - when: "inputs.kind contains 'bug'"
                      steps: [ { id: bug_reply, agent: { model: w, prompt: "bug", max_tokens: 4 } } ]
                  default:
                    steps: [ { id: general_reply, agent: { model: w, prompt: "general", max_tokens: 4 } } ]
              - id: after
                agent: { model: w, prompt: "Follow up on {{ steps.route.output }}", max_tokens: 4 }
            """, new Dictionary<string, string> { ["kind"] = kind });

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(["route", expectedStep, "after"], record.Steps.Select(s => s.Id));
        var route = record.Steps.Single(s => s.Id == "route");
        Assert.Equal(expectedDetail, route.Detail);
        Assert.Equal(record.Steps.Single(s => s.Id == expectedStep).Output, route.Output);
        Assert.Contains(route.Output!, record.Steps.Single(s => s.Id == "after").Prompt!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_SwitchWithoutDefaultAndNoMatch_OutputsEmptyAndContinues()
    {
        var record = await fixture.RunAsync("""
            name: no-match
            version: 1
            models: { w: tiny }
            steps:
              - id: route
                switch:
                  cases:
                    - when: "false"
                      steps: [ { id: never, agent: { model: w, prompt: "x", max_tokens: 2 } } ]
              - id: after
                agent: { model: w, prompt: "[{{ steps.route.output }}]", max_tokens: 2 }
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(["route", "after"], record.Steps.Select(s => s.Id));
        Assert.Equal("none", record.Steps[0].Detail);
        Assert.Equal("[]", record.Steps[1].Prompt);
    }

    [Fact]
    public async Task RunAsync_Parallel_BranchesOverlapInTimeAndOutputIsAMap()
    {
        // Different models so the branches do not queue on one llama context.
        var record = await fixture.RunAsync("""
            name: fan
            version: 1
            models: { a: tiny, b: tiny2 }
            steps:
              - id: research
                parallel:
                  - { id: pros, agent: { model: a, prompt: "pros", max_tokens: 200, temperature: 0 } }
                  - { id: cons, agent: { model: b, prompt: "cons", max_tokens: 200, temperature: 0 } }
              - id: merge
                agent: { model: a, prompt: "P={{ steps.research.output.pros }} C={{ steps.research.output.cons }}", max_tokens: 4 }
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var pros = record.Steps.Single(s => s.Id == "pros");
        var cons = record.Steps.Single(s => s.Id == "cons");
        Assert.True(pros.Started < cons.Started.AddMilliseconds(cons.LatencyMs), "pros must start before cons ends");
        Assert.True(cons.Started < pros.Started.AddMilliseconds(pros.LatencyMs), "cons must start before pros ends");
        var research = record.Steps.Single(s => s.Id == "research");
        var map = System.Text.Json.JsonDocument.Parse(research.Output!).RootElement;
        Assert.Equal(pros.Output, map.GetProperty("pros").GetString());
        Assert.Equal(cons.Output, map.GetProperty("cons").GetString());
        Assert.Equal($"P={pros.Output} C={cons.Output}", record.Steps.Single(s => s.Id == "merge").Prompt);
    }

    [Fact]
    public async Task RunAsync_LoopUntilHolds_StopsAtThatIterationWithLastOutput()
    {
        var record = await fixture.RunAsync("""
            name: loop
            version: 1
            models: { w: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 5
                  until: "loop.iteration >= 3"
                  steps:
                    - id: draft
                      agent: { model: w, prompt: "Draft {{ loop.iteration }} after [{{ steps.critique.output }}]", max_tokens: 4 }
                    - id: critique
                      agent: { model: w, prompt: "Critique {{ steps.draft.output }}", max_tokens: 4 }
            outputs:
              result: "{{ steps.refine.output }}"
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        var drafts = record.Steps.Where(s => s.Id == "draft").ToList();
        Assert.Equal([1, 2, 3], drafts.Select(d => d.Iteration!.Value));
        Assert.Equal("Draft 1 after []", drafts[0].Prompt);
        var critiques = record.Steps.Where(s => s.Id == "critique").ToList();
        Assert.Equal($"Draft 2 after [{critiques[0].Output}]", drafts[1].Prompt);
        Assert.Equal("3 iterations", record.Steps.Single(s => s.Id == "refine").Detail);
        Assert.Equal(critiques[^1].Output, record.Outputs["result"]);
    }

    [Fact]
    public async Task RunAsync_LoopExhaustedWithContinue_EndsWithLastIteration()
    {
        var record = await fixture.RunAsync("""
            name: loop-continue
            version: 1
            models: { w: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 2
                  until: "false"
                  on_exhausted: continue
                  steps:
                    - { id: draft, agent: { model: w, prompt: "Draft {{ loop.iteration }}", max_tokens: 4 } }
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(2, record.Steps.Count(s => s.Id == "draft"));
    }

    [Fact]
    public async Task RunAsync_LoopExhausted_FailsNamingTheLoop()
    {
        var record = await fixture.RunAsync("""
            name: loop-fail
            version: 1
            models: { w: tiny }
            steps:
              - id: refine
                loop:
                  max_iterations: 2
                  until: "false"
                  steps:
                    - { id: draft, agent: { model: w, prompt: "Draft", max_tokens: 4 } }
              - { id: never, agent: { model: w, prompt: "x", max_tokens: 2 } }
            """);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("refine", record.Error!.StepId);
        Assert.Contains("max_iterations (2)", record.Error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(record.Steps, s => s.Id == "never");
    }

    [Fact]
    public async Task RunAsync_ModelFails_FailsRunWithStepIdAndCause()
    {
        // A prompt far longer than the tiny model's context: llama.cpp cannot take it.
        var record = await fixture.RunAsync("""
            name: too-long
            version: 1
            inputs: { text: { required: true } }
            models: { w: tiny }
            steps:
              - { id: ok, agent: { model: w, prompt: "hi", max_tokens: 2 } }
              - { id: boom, agent: { model: w, prompt: "{{ inputs.text }}", max_tokens: 2 } }
              - { id: never, agent: { model: w, prompt: "x", max_tokens: 2 } }
            """, new Dictionary<string, string> { ["text"] = new string('x', 20_000) });

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("boom", record.Error!.StepId);
        Assert.Contains("tiny", record.Error.Message, StringComparison.Ordinal);
        Assert.Equal(StepStatus.Failed, record.Steps.Single(s => s.Id == "boom").Status);
        Assert.DoesNotContain(record.Steps, s => s.Id == "never");
    }

    [Fact]
    public async Task RunAsync_AttemptsTimeOut_EveryAttemptIsRecordedAndTheRunFailsNamingTheModel()
    {
        var record = await fixture.RunAsync("""
            name: timeouts
            version: 1
            models: { w: tiny }
            defaults:
              retry: { attempts: 2, backoff: 10ms }
            steps:
              - id: slow
                timeout: 10ms
                agent: { model: w, prompt: "Write a very long story", max_tokens: 2000 }
            """);

        Assert.Equal(RunStatus.Failed, record.Status);
        Assert.Equal("slow", record.Error!.StepId);
        Assert.Contains("model 'tiny' (alias 'w') failed after 2 attempts: timed out after 0.01 s", record.Error.Message, StringComparison.Ordinal);
        var attempts = record.Steps.Where(s => s.Id == "slow").ToList();
        Assert.Equal([1, 2], attempts.Select(a => a.Attempt));
        Assert.All(attempts, a => Assert.Equal(StepStatus.Failed, a.Status));
        Assert.All(attempts, a => Assert.StartsWith("timed out", a.Error, StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_GenerousTimeoutAndRetry_SucceedsOnFirstAttempt()
    {
        var record = await fixture.RunAsync("""
            name: retry-ok
            version: 1
            models: { w: tiny }
            steps:
              - id: quick
                timeout: 60s
                retry: { attempts: 3, backoff: 1s }
                agent: { model: w, prompt: "hi", max_tokens: 4 }
            """);

        Assert.Equal(RunStatus.Succeeded, record.Status);
        Assert.Equal(1, Assert.Single(record.Steps).Attempt);
    }

    [Fact]
    public async Task RunAsync_SameWorkflowTwice_GivesIdenticalOutputsAtTemperatureZero()
    {
        const string Yaml = """
            name: det
            version: 1
            models: { w: tiny }
            steps:
              - { id: a, agent: { model: w, prompt: "Tell me a story", max_tokens: 24, temperature: 0 } }
            """;

        var first = await fixture.RunAsync(Yaml);
        var second = await fixture.RunAsync(Yaml);

        Assert.Equal(first.Steps[0].Output, second.Steps[0].Output);
        Assert.NotEqual(first.RunId, second.RunId);
    }

    [Fact]
    public async Task RunAsync_Observer_SeesStartedChunksFinishedInOrder()
    {
        var observer = new RecordingObserver();

        var record = await fixture.RunAsync("""
            name: events
            version: 1
            models: { w: tiny }
            steps:
              - { id: a, agent: { model: w, prompt: "hello", max_tokens: 6 } }
            """, observer: observer);

        Assert.IsType<RunStartedEvent>(observer.Events[0]);
        Assert.IsType<RunFinishedEvent>(observer.Events[^1]);
        var started = observer.Events.FindIndex(e => e is StepStartedEvent);
        var finished = observer.Events.FindIndex(e => e is StepFinishedEvent);
        var chunks = observer.Events.OfType<StepOutputChunkEvent>().ToList();
        Assert.True(started < finished);
        Assert.NotEmpty(chunks);
        Assert.Equal(record.Steps[0].Output, string.Concat(chunks.Select(c => c.Text)));
    }

    private sealed class RecordingObserver : IRunObserver
    {
        public List<RunEvent> Events { get; } = [];

        public void OnEvent(RunEvent runEvent) => Events.Add(runEvent);
    }
}
