#!/usr/bin/env bash
# The one test command (README and .ci/run call exactly this). On a fresh Debian machine with only the .NET SDK,
# run as root:
#   1. starts Redis and RabbitMQ on loopback via scripts/services.sh (installing them with apt-get when missing;
#      servers already running are reused and left running, servers started here are stopped on exit),
#      and the Debian chromium for the dashboard browser tests via scripts/browser.sh (apt-get when missing),
#   2. builds the solution once in Release and packs the CLI as a .NET tool (artifacts/packages),
#   3. runs every test project (one totals line per project), TRX results in $AGENTFLOW_TEST_RESULTS
#      (default artifacts/test-results),
#   4. ends with one line: "N passed, N failed" (+ ", N skipped" when tests were skipped), summed over all projects.
# Exit code: 0 when the build succeeded and every test passed, non-zero otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

say() { echo "test: $*" >&2; }
command -v dotnet >/dev/null || { say "the .NET 10 SDK is needed (dotnet not found on PATH)"; exit 1; }

# --- 1. Services: stop on exit only what this run started.
stop_services=0
cleanup() { if [ "$stop_services" = 1 ]; then scripts/services.sh down || true; fi; }
trap cleanup EXIT
if ! scripts/services.sh status >/dev/null 2>&1; then stop_services=1; fi
scripts/services.sh up
export AGENTFLOW_TEST_REDIS="127.0.0.1:${REDIS_PORT:-6379}"
export AGENTFLOW_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:${AMQP_PORT:-5672}/"
# Chroma runs when node/npm are there (services.sh skips it otherwise, and its tests skip).
if (exec 3<>"/dev/tcp/127.0.0.1/${CHROMA_PORT:-8765}") 2>/dev/null; then export AGENTFLOW_TEST_CHROMA="http://127.0.0.1:${CHROMA_PORT:-8765}"; fi
scripts/browser.sh
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1   # the tests drive /usr/bin/chromium; never a browser download
export AGENTFLOW_READY_TO_RUN=0   # ./agentflow in the tests runs the build below (no ReadyToRun publish on top of it)

# --- 2. Build once.
t0=$SECONDS
say "building AgentFlow.slnx (Release)..."
if ! dotnet build AgentFlow.slnx -c Release --nologo -v quiet -clp:ErrorsOnly; then
  say "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
say "built in $((SECONDS - t0))s"

# --- 2b. Pack the CLI as a .NET tool once (reusing the build); the tool package tests install this very package.
t0=$SECONDS
rm -rf artifacts/packages
if ! scripts/pack.sh artifacts/packages >/dev/null; then
  say "pack failed"
  echo "0 passed, 1 failed"
  exit 1
fi
export AGENTFLOW_TEST_PACKAGES="$PWD/artifacts/packages"
say "packed the tool in $((SECONDS - t0))s"

# --- 3. Test: the console logger prints one "Passed!/Failed! - Failed: N, Passed: N, Skipped: N, Total: N" line per project.
results="${AGENTFLOW_TEST_RESULTS:-$PWD/artifacts/test-results}"
rm -rf "$results"; mkdir -p "$results"
# Only test projects (tests/*.Tests.csproj) write results; helpers such as a test MCP server or plugin do not.
projects=$(grep -c '<Project Path="tests/[^"]*\.Tests\.csproj"' AgentFlow.slnx || true)
t0=$SECONDS
say "running $projects test projects (TRX files in $results)..."
status=0
# -m:1: one test project at a time. The CI machine has 2 cores; projects that time real models, brokers and worker
# processes must not starve each other (the whole suite still runs in about two minutes).
dotnet test AgentFlow.slnx -c Release --no-build --nologo -m:1 \
  --logger "console;verbosity=minimal" --logger trx --results-directory "$results" || status=$?
say "tests ran in $((SECONDS - t0))s"

# --- 4. Sum every project's TRX counters. Skipped tests are the ones not executed.
passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  read -r p f s < <(grep -o '<Counters [^>]*>' "$trx" | head -1 | awk '
    { for (i = 1; i <= NF; i++) { split($i, kv, "="); gsub(/[^0-9]/, "", kv[2]); c[kv[1]] = kv[2] + 0 } }
    END { print c["passed"], c["failed"] + c["error"] + c["timeout"] + c["aborted"], c["total"] - c["executed"] }')
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done

if [ "$files" -lt "$projects" ]; then
  say "only $files of $projects test projects wrote results (a test host crashed?)"
  [ "$status" != 0 ] || status=1
fi
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  failed=1   # the runner failed without a failing test (crash, no results): never report green
fi

summary="$passed passed, $failed failed"
[ "$skipped" = 0 ] || summary="$summary, $skipped skipped"
echo "$summary"
exit "$status"
