#!/usr/bin/env bash
# The one test command (README and .ci/run): starts Redis and RabbitMQ on loopback (installing them with apt-get when
# missing), builds the solution once in Release, runs every test project, stops the servers, and ends with one line
# "N passed, N failed, N skipped". Exit code: 0 when every test passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

started=0
cleanup() { if [ "$started" = 1 ]; then scripts/services.sh down || true; fi; }
trap cleanup EXIT

scripts/services.sh up
started=1
export AGENTFLOW_TEST_REDIS="127.0.0.1:${REDIS_PORT:-6379}"
export AGENTFLOW_TEST_RABBITMQ="amqp://guest:guest@127.0.0.1:${AMQP_PORT:-5672}/"

echo "test: building (Release)..."
dotnet build AgentFlow.slnx -c Release --nologo -v quiet -clp:ErrorsOnly

results="$(mktemp -d)"
echo "test: running tests (results in $results)..."
set +e
dotnet test AgentFlow.slnx -c Release --no-build --nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results"
status=$?
set -e

# Sum the counters of every project's .trx file into the one closing line CI reads.
passed=0; failed=0; skipped=0; files=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed); e=$(get error); t=$(get timeout); a=$(get aborted)
  passed=$((passed + p)); failed=$((failed + f + e + t + a)); skipped=$((skipped + total - executed))
done

if [ "$files" = 0 ]; then
  echo "test: no test results were written" >&2
  status=1
fi
if [ "$status" != 0 ] && [ "$failed" = 0 ]; then
  failed=1   # the runner failed without a failing test (crash, build problem): never report green
fi

echo "$passed passed, $failed failed, $skipped skipped"
exit "$status"
