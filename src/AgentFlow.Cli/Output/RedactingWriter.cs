using System.Text;
using AgentFlow.Secrets;
using Spectre.Console;

namespace AgentFlow.Cli.Output;

/// <summary>
/// stdout or stderr of the CLI with every known secret masked before it is written. Text is scrubbed per write: every
/// message the CLI prints goes out in one write, so a secret is never split across two.
/// </summary>
internal sealed class RedactingWriter(TextWriter inner, SecretRedactor secrets) : TextWriter
{
    public override Encoding Encoding => inner.Encoding;

    public override IFormatProvider FormatProvider => inner.FormatProvider;

    public override string NewLine
    {
        get => inner.NewLine;
#pragma warning disable CS8765 // TextWriter.NewLine's setter accepts null (the default new line); the inner writer handles it.
        set => inner.NewLine = value;
#pragma warning restore CS8765
    }

    /// <summary>
    /// Spectre.Console output writing through this writer, with the terminal's size and capabilities of the stream
    /// beneath (Spectre only recognises the console's own writers as a terminal).
    /// </summary>
    public static IAnsiConsoleOutput ConsoleOutputFor(TextWriter writer) =>
        writer is RedactingWriter redacting ? new TerminalOutput(redacting, new AnsiConsoleOutput(redacting.Inner)) : new AnsiConsoleOutput(writer);

    private TextWriter Inner => inner;

    public override void Write(char value) => inner.Write(value);

    public override void Write(string? value) => inner.Write(secrets.Redact(value));

    public override void Write(char[] buffer, int index, int count) => inner.Write(secrets.Redact(new string(buffer, index, count)));

    public override void Write(ReadOnlySpan<char> buffer) => inner.Write(secrets.Redact(buffer.ToString()));

    public override void WriteLine(string? value) => inner.WriteLine(secrets.Redact(value));

    public override void WriteLine(ReadOnlySpan<char> buffer) => inner.WriteLine(secrets.Redact(buffer.ToString()));

    public override void WriteLine() => inner.WriteLine();

    public override void Flush() => inner.Flush();

    public override Task FlushAsync() => inner.FlushAsync();

    /// <summary>The redacting writer, with the terminal properties of the console stream it writes to.</summary>
    private sealed class TerminalOutput(TextWriter writer, IAnsiConsoleOutput terminal) : IAnsiConsoleOutput
    {
        public TextWriter Writer => writer;

        public bool IsTerminal => terminal.IsTerminal;

        public int Width => terminal.Width;

        public int Height => terminal.Height;

        public void SetEncoding(Encoding encoding) => terminal.SetEncoding(encoding);
    }
}
