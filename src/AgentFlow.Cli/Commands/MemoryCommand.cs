using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentFlow.Cli.Output;
using AgentFlow.Memory;
using AgentFlow.Models;

namespace AgentFlow.Cli.Commands;

/// <summary><c>agentflow memory show|clear CONVERSATION</c>: operator access to conversational memory.</summary>
internal static class MemoryCommand
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create(Func<CliContext> context)
    {
        var command = new Command("memory", "Show or clear a conversation (local store .agentflow/memory.db, or Redis with AGENTFLOW_REDIS / memory: { store: redis }).");
        command.Add(Show(context));
        command.Add(Clear(context));
        return command;
    }

    private static Command Show(Func<CliContext> context)
    {
        var conversation = new Argument<string>("conversation") { Description = "The conversation id (what the workflow's memory.conversation rendered to)." };
        var json = CommonOptions.Json();
        var config = CommonOptions.Config();
        var command = new Command("show", "Print every message of a conversation, oldest first.") { conversation, json, config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            return await WithStoreAsync(cli, parse.GetValue(config), async store =>
            {
                var messages = await store.ReadAsync(parse.GetValue(conversation)!, cancellationToken).ConfigureAwait(false);
                if (parse.GetValue(json))
                {
                    var array = new JsonArray();
                    foreach (var m in messages)
                    {
                        array.Add(new JsonObject
                        {
                            ["sequence"] = m.Sequence,
                            ["role"] = m.Role == ConversationRole.User ? "user" : "assistant",
                            ["content"] = m.Content,
                            ["step"] = m.StepId,
                            ["run_id"] = m.RunId,
                            ["model"] = m.Model,
                            ["timestamp"] = m.Timestamp.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                        });
                    }

                    cli.Out.WriteLine(new JsonObject { ["conversation"] = parse.GetValue(conversation), ["store"] = store.Description, ["messages"] = array }.ToJsonString(Indented));
                }
                else
                {
                    cli.Out.WriteLine($"conversation {parse.GetValue(conversation)} ({messages.Count} messages, {store.Description})");
                    foreach (var m in messages)
                    {
                        cli.Out.WriteLine($"[{m.Sequence}] {m.Timestamp:u} {(m.Role == ConversationRole.User ? "user" : "assistant")} ({m.StepId}, {m.Model}, run {m.RunId}):");
                        cli.Out.WriteLine("    " + m.Content.Replace("\n", "\n    ", StringComparison.Ordinal));
                    }
                }

                return ExitCodes.Success;
            }, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Clear(Func<CliContext> context)
    {
        var conversation = new Argument<string>("conversation") { Description = "The conversation id to delete." };
        var config = CommonOptions.Config();
        var command = new Command("clear", "Delete every message of a conversation.") { conversation, config };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var cli = context();
            return await WithStoreAsync(cli, parse.GetValue(config), async store =>
            {
                var removed = await store.ClearAsync(parse.GetValue(conversation)!, cancellationToken).ConfigureAwait(false);
                cli.Out.WriteLine($"cleared conversation {parse.GetValue(conversation)}: {removed} messages removed");
                return ExitCodes.Success;
            }, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> WithStoreAsync(CliContext cli, string? configPath, Func<IConversationStore, Task<int>> action, CancellationToken cancellationToken)
    {
        if (cli.TryLoadRegistry(configPath) is not { } registry)
        {
            return ExitCodes.BadInput;
        }

        await using var store = await cli.OpenConversationStoreAsync(registry, cancellationToken).ConfigureAwait(false);
        return await action(store).ConfigureAwait(false);
    }
}
