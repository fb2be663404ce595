using System.CommandLine;

namespace AgentFlow.Cli.Completion;

/// <summary>
/// <c>agentflow completion bash|zsh|pwsh</c>: prints a shell script that asks agentflow itself for completions through
/// System.CommandLine's <c>[suggest:POSITION]</c> directive, so commands, options, workflow files, model names and run
/// ids complete from the same parser that runs the command (nothing to keep in sync).
/// </summary>
internal static class CompletionCommand
{
    // Each script strips the command word and passes the rest of the line with the cursor position inside it,
    // as dotnet-suggest does; an empty answer falls back to the shell's file completion.
    private const string Bash = """
        # agentflow completion for bash. Load it with:  source <(agentflow completion bash)
        # (or save it to ~/.local/share/bash-completion/completions/agentflow)
        _agentflow_complete() {
            local cmd="${COMP_WORDS[0]}"
            local line="${COMP_LINE:0:COMP_POINT}"
            local rest="${line#*"$cmd"}"
            rest="${rest# }"
            local IFS=$'\n'
            local suggestions
            suggestions=$("$cmd" "[suggest:${#rest}]" "$rest" 2>/dev/null)
            COMPREPLY=($(compgen -W "$suggestions" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -o nospace -F _agentflow_complete agentflow

        """;

    private const string Zsh = """
        #compdef agentflow
        # agentflow completion for zsh. Load it with:  source <(agentflow completion zsh)
        # (compinit must have run; or save it as _agentflow in a folder on $fpath)
        _agentflow() {
            local line="${BUFFER[1,CURSOR]}"
            local rest="${line#*agentflow}"
            rest="${rest# }"
            local -a suggestions
            suggestions=("${(@f)$(${words[1]} "[suggest:${#rest}]" "$rest" 2>/dev/null)}")
            if (( ${#suggestions[@]} )) && [[ -n "${suggestions[1]}" ]]; then
                compadd -a suggestions
            else
                _files
            fi
        }
        compdef _agentflow agentflow

        """;

    private const string Pwsh = """
        # agentflow completion for PowerShell. Load it with:  agentflow completion pwsh | Out-String | Invoke-Expression
        Register-ArgumentCompleter -Native -CommandName agentflow -ScriptBlock {
            param($wordToComplete, $commandAst, $cursorPosition)
            $line = $commandAst.ToString()
            $start = $commandAst.CommandElements[0].Extent.EndOffset - $commandAst.Extent.StartOffset
            $rest = $line.Substring([Math]::Min($start, $line.Length)).TrimStart()
            $position = [Math]::Max(0, $cursorPosition - $commandAst.Extent.StartOffset - ($line.Length - $rest.Length))
            & agentflow "[suggest:$position]" "$rest" 2>$null | ForEach-Object {
                [System.Management.Automation.CompletionResult]::new($_, $_, 'ParameterValue', $_)
            }
        }

        """;

    public static Command Create()
    {
        var shell = new Argument<string>("shell") { Description = "bash, zsh or pwsh." };
        shell.AcceptOnlyFromAmong("bash", "zsh", "pwsh");
        var command = new Command("completion", "Print a shell completion script: source <(agentflow completion bash).") { shell };
        command.SetAction(parse =>
        {
            Console.Out.Write(parse.GetValue(shell) switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                _ => Pwsh,
            });
            return ExitCodes.Success;
        });
        return command;
    }
}
