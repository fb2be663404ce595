#!/usr/bin/env bash
# Fuzzes the workflow loader and validator (issue #14): seeded mutations of workflows/*.yaml.
# Usage: scripts/fuzz.sh [--seed N] [--count N] [--batch N]
#   1. runs the in-process round (tests/AgentFlow.Core.Tests, WorkflowFuzzTests) with that seed and count, which fails
#      on any exception escaping the loader, any AF0199 (internal error) and any case taking over 20 s, and writes
#      every case to a folder;
#   2. feeds the same files to `./agentflow validate` in child processes, --batch files at a time (default 200), so a
#      crash the process cannot survive (a stack overflow: exit 134, a segfault: 139) shows as an exit code; every
#      exit code must be 0 or 2, no output may hold AF0199, and each batch must end within 10 minutes.
# Exit code: 0 when no case failed; the failing cases are kept and their folder printed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
seed=1 count=3000 batch=200
while [ $# -gt 0 ]; do
  case "$1" in
    --seed) seed="$2"; shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    *) echo "usage: scripts/fuzz.sh [--seed N] [--count N] [--batch N]" >&2; exit 2 ;;
  esac
done
say() { echo "fuzz: $*" >&2; }
cases="$(mktemp -d "${TMPDIR:-/tmp}/agentflow-fuzz-$seed.XXXXXX")"

say "seed $seed, $count cases in $cases"
dotnet build tests/AgentFlow.Core.Tests -c Release --nologo -v quiet -clp:ErrorsOnly >&2
failed=0
if ! AGENTFLOW_FUZZ_SEED="$seed" AGENTFLOW_FUZZ_COUNT="$count" AGENTFLOW_FUZZ_OUT="$cases" \
    dotnet test tests/AgentFlow.Core.Tests -c Release --no-build --nologo --filter "FullyQualifiedName~WorkflowFuzzTests" >"$cases/in-process.log" 2>&1; then
  say "in-process round failed:"; grep -E "case-|Failed" "$cases/in-process.log" | head -20 >&2 || true
  failed=1
fi

./agentflow --help >/dev/null   # builds the CLI once, outside the timed batches
mapfile -t files < <(find "$cases" -name 'case-*.yaml' | sort)
for ((i = 0; i < ${#files[@]}; i += batch)); do
  set +e
  timeout 600 ./agentflow validate "${files[@]:i:batch}" >"$cases/batch.log" 2>&1
  rc=$?
  set -e
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    say "batch at case $i: exit code $rc ($( [ "$rc" = 124 ] && echo hang || echo crash ))"
    cp "$cases/batch.log" "$cases/failed-batch-$i.log"; failed=1
  elif grep -q "AF0199" "$cases/batch.log"; then
    say "batch at case $i: internal error"; grep "AF0199" "$cases/batch.log" | head -5 >&2
    cp "$cases/batch.log" "$cases/failed-batch-$i.log"; failed=1
  fi
done

if [ "$failed" = 0 ]; then
  say "${#files[@]} cases: 0 crashes, 0 AF0199, 0 hangs"
  rm -rf "$cases"
else
  say "failures kept in $cases"
  exit 1
fi
