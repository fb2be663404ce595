namespace AgentFlow.Cli.Tests;

/// <summary>
/// A fact that drives the Debian <c>chromium</c> (installed by scripts/browser.sh, which scripts/test.sh calls);
/// skipped, and says so, without it. Playwright never downloads a browser here.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string ExecutablePath = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(ExecutablePath))
        {
            Skip = $"no {ExecutablePath}: run scripts/browser.sh (apt-get install chromium; scripts/test.sh does) for the dashboard browser tests";
        }
    }
}
